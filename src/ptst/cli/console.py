"""Terminal output for the commands: the one console of `ptst.core.console`."""

from ptst.core.console import err, note, out, write_raw

__all__ = ["err", "note", "out", "write_raw"]
