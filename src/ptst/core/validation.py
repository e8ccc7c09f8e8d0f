"""Turn a pydantic ValidationError into one line that names the file, the entry and the field."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(err: ValidationError, where: str) -> str:
    """'WHERE: field FIELD: MESSAGE' for the most telling error (an unknown field first: a typo there often also
    leaves a required field missing), with a count of the others."""
    errors = sorted(err.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
    if first.get("type") == "extra_forbidden":
        text = f"{where}: unknown field {loc!r}"
    else:
        text = f"{where}: field {loc!r}: {first.get('msg', 'invalid').removeprefix('Value error, ')}"
    more = len(errors) - 1
    return text + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")
