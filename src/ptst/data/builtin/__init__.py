"""Data written by this project (nothing copied), so the default job needs no download."""
