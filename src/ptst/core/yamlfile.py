"""Read a YAML file with errors that name the file and the line; bounded in size, any bytes refused cleanly, and
the values checked as every file's are (`check_values`: valid Unicode, finite numbers in range, no document that
contains itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ptst.core.errors import PtstError
from ptst.core.io import read_text
from ptst.core.validation import check_values

MAX_YAML_BYTES = 4 << 20  # configs and templates are small; a larger file is a mistake, not a config


def read_yaml(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    text = read_text(path, what, max_bytes=MAX_YAML_BYTES)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" line {mark.line + 1}:" if mark else ""
        reason = getattr(err, "problem", None) or getattr(err, "reason", None) or "invalid"
        raise PtstError(f"{path}:{at} bad YAML: {reason}") from None
    except RecursionError:
        raise PtstError(f"{path}: bad YAML: nested too deeply") from None
    except ValueError as err:  # int() of a number past Python's 4,300-digit limit
        reason = "a number with more than 4,300 digits" if "digits" in str(err) else str(err).splitlines()[0]
        raise PtstError(f"{path}: bad YAML: {reason}") from None
    check_values(doc, str(path))
    return doc
