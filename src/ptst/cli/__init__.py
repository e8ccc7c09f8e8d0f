"""The `ptst` command line: one small module per command."""
