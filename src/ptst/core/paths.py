"""Where ptst keeps its cache (`$PTST_HOME`, default `~/.cache/ptst`); output paths checked before any compute is
spent (the parent is a file, a directory where a file is meant or the reverse, not writable, a directory holding
files ptst did not write); and `name_as_path`, the one way a name (a study's, an eval set's, a template's) becomes
part of a path."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from ptst.core.errors import PtstError

LOCK_NAME = ".ptst.lock"  # written by ptst.core.runlock into every directory a ptst run writes
_NAME_MAX = 255
MAX_NAME_BYTES = 128  # a name leaves room in a file name for what ptst adds (`-seed0-1a2b3c4d`, `heatmap_`...)
_UNPRINTABLE = ("Cc", "Cs", "Zl", "Zp")  # control characters, lone surrogates, line and paragraph separators


def ptst_home() -> Path:
    return Path(os.environ.get("PTST_HOME") or Path.home() / ".cache" / "ptst").expanduser()


def models_cache() -> Path:
    return ptst_home() / "models"


def name_problem(name: str) -> str | None:
    """Why `name` cannot be one component of a path (empty, a separator, `.` or `..`, a control character, over
    MAX_NAME_BYTES), or None."""
    if not isinstance(name, str) or not name.strip():
        return "a name must not be empty"
    if "/" in name or "\\" in name:
        return "a name must not contain '/' or '\\' (it becomes part of a file name)"
    if set(name) == {"."}:
        return "a name must not be '.' or '..'"
    bad = next((c for c in name if unicodedata.category(c) in _UNPRINTABLE), None)
    if bad is not None:
        return f"a name must not contain control characters (found {bad!a})"
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"a name of {size} bytes is longer than the {MAX_NAME_BYTES} ptst allows"
    return None


def name_as_path(name: str, what: str = "name") -> str:
    """`name` as one path component, unchanged, or a PtstError naming `what`: the one way a name becomes part of a
    path, so no name escapes the directory it is meant for."""
    problem = name_problem(name)
    if problem:
        raise PtstError(f"{what} {_short(ascii(name))}: {problem}")
    return name


def _path_name(name: str) -> str:
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


PathName = Annotated[str, AfterValidator(_path_name)]  # a config field whose value becomes part of a path


def check_output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """A file ptst may create or replace: not a directory, inside a writable directory (or one it can create)."""
    p = _checked_path(path, flag)
    if p.is_dir():
        raise PtstError(f"{flag} {path}: is a directory; give a file path")
    _check_writable_ancestor(p.parent, p, flag)
    return p


def check_output_dir(path: str | os.PathLike, flag: str = "--out", *, owned: Iterable[str] = ()) -> Path:
    """A directory ptst may write into: new, empty, or already its own (holding ptst's lock file or one of the
    `owned` names or patterns a ptst run writes). A directory holding anything else is refused, untouched."""
    p = _checked_path(path, flag)
    if p.exists() and not p.is_dir():
        raise PtstError(f"{flag} {path}: is a file; give a directory")
    if p.is_dir() and any(p.iterdir()) and not any(any(p.glob(name)) for name in (LOCK_NAME, *owned)):
        raise PtstError(f"{flag} {path}: exists and holds files ptst did not write; choose a new or empty "
                        "directory (nothing in it was changed)")
    _check_writable_ancestor(p, p, flag)
    return p


def _checked_path(path: str | os.PathLike, flag: str) -> Path:
    text = os.fspath(path)
    if not text.strip():
        raise PtstError(f"{flag}: the path is empty")
    if "\x00" in text:
        raise PtstError(f"{flag} {text!r}: the path contains a NUL character")
    p = Path(text).expanduser()
    long = [part for part in p.parts if len(os.fsencode(part)) > _NAME_MAX]
    if long:
        raise PtstError(f"{flag} {_short(text)}: a name in the path is {len(os.fsencode(long[0]))} bytes long, "
                        f"more than the {_NAME_MAX} a file system allows")
    return p


def _check_writable_ancestor(start: Path, target: Path, flag: str) -> None:
    """The nearest existing directory at or above `start` must be a directory that this user can write."""
    here = start.absolute()
    while not here.exists():
        if here.is_symlink():
            raise PtstError(f"{flag} {target}: {here} is a broken symbolic link")
        here = here.parent
    if not here.is_dir():
        raise PtstError(f"{flag} {target}: {here} is a file, not a directory")
    if not os.access(here, os.W_OK | os.X_OK):
        raise PtstError(f"{flag} {target}: {here} is not writable")


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else f"{text[:width - 3]}..."
