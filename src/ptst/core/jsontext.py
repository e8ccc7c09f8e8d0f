"""The one JSON parser for JSON that ptst reads from files (data and samples files, store rows, manifests, adapter
and model configs). Python's json takes more than JSON: NaN and Infinity, integers of any length (one over 4,300
digits is a ValueError), lone surrogate escapes such as "\\ud800" that no UTF-8 file can hold. Each is refused
here as a one-line PtstError naming where the text came from."""

from __future__ import annotations

import json
from typing import Any

from ptst.core.errors import PtstError
from ptst.core.validation import MAX_INT, check_values, number_problem

_MAX_DIGITS = len(str(MAX_INT))
_WIDE_DIGITS = 1000  # other programs' files (a tokenizer's model_max_length is often 1e30)


class _Refused(ValueError):
    pass


def _constant(name: str):
    raise _Refused(f"{name} is not a number ptst reads (JSON has no {name})")


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_DIGITS or number_problem(int(text)):
        raise _Refused(f"an integer of {digits:,} digits, outside the 64-bit range ptst reads")
    return int(text)


def _wide_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _WIDE_DIGITS:
        raise _Refused(f"an integer of {digits:,} digits; ptst reads integers of at most {_WIDE_DIGITS:,}")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if number_problem(value):
        raise _Refused(f"the number {text[:30]} is too large for a 64-bit float")
    return value


def parse_json(text: str, where: str, *, document: bool = False, allow_nan: bool = False,
               wide_ints: bool = False) -> Any:
    """`text` as JSON, or a PtstError 'WHERE: ...'. `document`: a whole multi-line file, whose syntax errors name
    the line. `allow_nan`: NaN and Infinity are taken, as ptst's own files may hold them (Python's json writes
    them); the records read from such files say where a number must be finite. `wide_ints`: integers past 64 bits
    are taken (files of other programs: transformers writes 1e30 as an integer); records bound the ones read."""
    try:
        value = json.loads(text, parse_constant=float if allow_nan else _constant,
                           parse_int=_wide_int if wide_ints else _int, parse_float=float if allow_nan else _float)
    except json.JSONDecodeError as err:
        at = f"line {err.lineno}: " if document else ""
        raise PtstError(f"{where}: {at}malformed JSON ({err.msg})") from None
    except _Refused as err:
        raise PtstError(f"{where}: {err}") from None
    except RecursionError:
        raise PtstError(f"{where}: malformed JSON (nested too deeply)") from None
    check_values(value, where, finite=not allow_nan, wide_ints=wide_ints)
    return value


def parse_json_object(text: str, where: str, *, document: bool = False, allow_nan: bool = False,
                      wide_ints: bool = False) -> dict:
    value = parse_json(text, where, document=document, allow_nan=allow_nan, wide_ints=wide_ints)
    if not isinstance(value, dict):
        raise PtstError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value
