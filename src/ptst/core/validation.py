"""Turn a pydantic ValidationError into one line that names the file, the entry and the field."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(err: ValidationError, where: str) -> str:
    """'WHERE: field FIELD: MESSAGE' for the first error (and a count of the others)."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
    msg = first.get("msg", "invalid").removeprefix("Value error, ")
    more = len(err.errors()) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{where}: field {loc!r}: {msg}{tail}"
