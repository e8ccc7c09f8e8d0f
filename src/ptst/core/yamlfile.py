"""Read a YAML file with errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ptst.core.errors import PtstError


def read_yaml(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise PtstError(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" line {mark.line + 1}:" if mark else ""
        raise PtstError(f"{path}:{at} bad YAML: {getattr(err, 'problem', None) or 'invalid'}") from None
