"""Turn a pydantic ValidationError into one line that names the file, the entry and the field, as the user wrote
it: a config key, or the command-line flag (`--max-new-tokens`) when the value came from one."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(err: ValidationError, where: str, *, flags: bool = False) -> str:
    """'WHERE: field FIELD: MESSAGE (got VALUE)' for the most telling error (an unknown field first: a typo there
    often also leaves a required field missing), with a count of the others. With `flags` a top-level field is
    named as its flag, `--max-new-tokens`."""
    errors = sorted(err.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
    if first.get("type") == "extra_forbidden":
        text = f"{where}: unknown field {loc!r}"
    else:
        name = f"--{loc.replace('_', '-')}" if flags and len(first.get("loc", ())) == 1 else f"field {loc!r}"
        message = first.get("msg", "invalid").removeprefix("Value error, ")
        text = f"{where}: {name}: {message}{_got(first, message)}"
    more = len(errors) - 1
    return text + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


def _got(error: dict, message: str) -> str:
    value = error.get("input")
    if error.get("type") == "missing" or not isinstance(value, (int, float, str)) or len(repr(value)) > 40 \
            or repr(value) in message:  # the message names the value already (an unknown name)
        return ""
    return f" (got {value!r})"
