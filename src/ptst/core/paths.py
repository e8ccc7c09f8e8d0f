"""Where ptst keeps its cache: `$PTST_HOME`, default `~/.cache/ptst`."""

from __future__ import annotations

import os
from pathlib import Path


def ptst_home() -> Path:
    return Path(os.environ.get("PTST_HOME") or Path.home() / ".cache" / "ptst").expanduser()


def models_cache() -> Path:
    return ptst_home() / "models"
