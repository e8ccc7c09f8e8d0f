"""Validated records at every boundary: every value ptst reads from a file or a flag passes through here.

- `check_values` walks what a parser produced (a YAML or JSON document, a config's fields) and refuses what the
  syntax allows but nothing downstream can use: text that is not valid Unicode (a lone surrogate such as the
  JSON escape `"\\ud800"`), numbers that are not finite, integers outside the 64-bit range, documents that refer
  to themselves or expand past a bound (YAML aliases).
- `Text` and `Seed` are the field types records use for text and seeds.
- `validate_record` / `describe_validation_error` turn a pydantic error into one line that names the file, the
  entry and the field, as the user wrote it: a config key, or the command-line flag (`--max-new-tokens`).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from ptst.core.errors import PtstError

MAX_INT = 2 ** 63 - 1  # SQLite's and torch's integers; JSON and YAML allow any length
MAX_SEED = 2 ** 32 - 1  # numpy's seeds (transformers.set_seed seeds numpy too)
MAX_NODES = 10_000_000  # values in one document, counting every use of a YAML alias
_SURROGATE = re.compile("[\ud800-\udfff]")

M = TypeVar("M", bound=BaseModel)


def text_problem(value: str) -> str | None:
    """Why `value` is not text ptst can write back out (as UTF-8), or None."""
    bad = _SURROGATE.search(value)
    if bad:
        return f"not valid Unicode: a lone surrogate {bad.group()!a} at character {bad.start()}"
    return None


def _valid_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_valid_text)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


def number_problem(value: int | float) -> str | None:
    """Why a number read from a file or a flag is out of every range ptst uses, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"not a finite number (got {value})"
    if isinstance(value, int) and not -MAX_INT - 1 <= value <= MAX_INT:
        return f"an integer of {len(str(abs(value))):,} digits, outside the 64-bit range ptst reads"
    return None


def check_values(doc: Any, where: str, *, flags: bool | dict[str, str] = False, finite: bool = True,
                 wide_ints: bool = False) -> None:
    """Every string, number, key and nested value of `doc`, as `text_problem` and `number_problem` see them (NaN
    and infinities taken when not `finite`); a document that contains itself, or more than MAX_NODES values, is
    refused too. The error names the field (`decoding.seed`, or with `flags` a top-level field as its flag,
    `--seed`)."""
    stack: list[tuple[Any, tuple, bool]] = [(doc, (), False)]
    open_ids: set[int] = set()
    nodes = 0
    while stack:
        value, path, leaving = stack.pop()
        if leaving:
            open_ids.discard(id(value))
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise PtstError(f"{where}: more than {MAX_NODES:,} values (YAML aliases that expand without bound?)")
        problem = None
        if isinstance(value, str):
            problem = text_problem(value)
        elif isinstance(value, float) and finite or isinstance(value, int) and not wide_ints:
            problem = number_problem(value)
        elif isinstance(value, (dict, list, tuple)):
            if id(value) in open_ids:
                raise PtstError(f"{where}: {_field(path, flags)}: refers to itself (a YAML alias inside its own "
                                "anchor)")
            open_ids.add(id(value))
            stack.append((value, path, True))
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in pairs:
                if isinstance(key, str) and text_problem(key):
                    raise PtstError(f"{where}: {_field(path, flags)}: a key is {text_problem(key)}")
                stack.append((child, (*path, key), False))
        if problem:
            raise PtstError(f"{where}: {_field(path, flags)}: {problem}")


def _field(path: tuple, flags: bool | dict[str, str]) -> str:
    """How an error names a field: its dotted path, or with `flags` a top-level field as its flag (a mapping gives
    the flags of fields that name their own, e.g. `max_tokens` -> `--judge-max-tokens`)."""
    if not path:
        return "the document"
    if flags and len(path) == 1:
        own = flags.get(str(path[0])) if isinstance(flags, dict) else None
        return own or f"--{str(path[0]).replace('_', '-')}"
    return "field " + repr(".".join(str(p) for p in path))


def validate_record(model: type[M], data: Any, where: str, *, flags: bool | dict[str, str] = False,
                    wide_ints: bool = False) -> M:
    """`data` as a `model`, its numbers and text checked too (`check_values`), or a one-line PtstError naming
    `where` and the field."""
    try:
        record = model.model_validate(data)
    except ValidationError as err:
        raise PtstError(describe_validation_error(err, where, flags=flags)) from None
    except RecursionError:
        raise PtstError(f"{where}: nested too deeply") from None
    check_values(record.model_dump(), where, flags=flags, wide_ints=wide_ints)
    return record


def describe_validation_error(err: ValidationError, where: str, *, flags: bool | dict[str, str] = False) -> str:
    """'WHERE: field FIELD: MESSAGE (got VALUE)' for the most telling error (an unknown field first: a typo there
    often also leaves a required field missing), with a count of the others. With `flags` a top-level field is
    named as its flag, `--max-new-tokens` (a mapping gives the flags of fields that name their own)."""
    errors = sorted(err.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
    if first.get("type") == "extra_forbidden":
        text = f"{where}: unknown field {loc!r}"
    else:
        name = _field(tuple(first.get("loc", ())), flags)
        message = first.get("msg", "invalid").removeprefix("Value error, ")
        text = f"{where}: {name}: {message}{_got(first, message)}" if first.get("loc") else f"{where}: {message}"
    more = len(errors) - 1
    return text + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


def _got(error: dict, message: str) -> str:
    value = error.get("input")
    if error.get("type") == "missing" or not isinstance(value, (int, float, str)) or len(repr(value)) > 40 \
            or repr(value) in message:  # the message names the value already (an unknown name)
        return ""
    return f" (got {ascii(value) if isinstance(value, str) and text_problem(value) else repr(value)})"
