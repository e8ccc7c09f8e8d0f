"""Crash-safe files: atomic writes, JSONL appended line by line and read back without torn lines, and text read
with bounded memory and one-line errors naming the file, the line and the byte offset."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ptst.core.errors import PtstError
from ptst.core.jsontext import parse_json_object

MAX_LINE_BYTES = 8 << 20  # a longer line in a data or samples file is refused before it is parsed or tokenised
_BOM = b"\xef\xbb\xbf"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def decode_text(data: bytes, where: str, *, offset: int = 0, line: int | None = None) -> str:
    """`data` as UTF-8 text (a leading BOM dropped), or a PtstError naming `where`, the line and the byte offset
    (`offset`: where `data` starts in its file). NUL bytes mark a binary file even when they decode."""
    if data.startswith(_BOM) and offset == 0:
        data, offset = data[len(_BOM):], len(_BOM)
    nul = data.find(b"\x00")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = err.start
        hint = "text in UTF-16: save it as UTF-8" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else \
            "a binary file, or text in another encoding: save it as UTF-8"
        raise PtstError(f"{where}: {_line_at(data, bad, line)}not valid UTF-8 text at byte offset "
                        f"{offset + bad} ({hint})") from None
    if nul >= 0:
        raise PtstError(f"{where}: {_line_at(data, nul, line)}binary content (a NUL byte at byte offset "
                        f"{offset + nul}); expected text")
    return text


def _line_at(data: bytes, index: int, line: int | None) -> str:
    if line is None:
        line = data.count(b"\n", 0, index) + 1
    return f"line {line}: "


def read_text(path: str | os.PathLike, what: str = "file", *, max_bytes: int = 64 << 20) -> str:
    """A whole text file, at most `max_bytes` long; errors name the file (and line and byte offset)."""
    path = Path(path)
    if not path.is_file():
        raise PtstError(f"{path}: {what} not found")
    size = path.stat().st_size
    if size > max_bytes:
        raise PtstError(f"{path}: {what} is {_mib(size)}, larger than the {_mib(max_bytes)} ptst reads")
    return decode_text(path.read_bytes(), str(path))


def iter_text_lines(path: str | os.PathLike, *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """(line number, line with its newline) of a UTF-8 text file, reading at most `max_line_bytes` + 1 bytes at a
    time: an over-long line is a one-line error naming where it starts, with bounded memory."""
    offset = 0
    with open(path, "rb") as f:
        n = 0
        while raw := f.readline(max_line_bytes + 1):
            n += 1
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                raise PtstError(f"{path}: line {n} is longer than {_mib(max_line_bytes)} (it starts at byte "
                                f"offset {offset}); ptst reads lines up to that length")
            yield n, decode_text(raw, str(path), offset=offset, line=n)
            offset += len(raw)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


class JsonlAppender:
    """Appends one JSON object per line, flushed and fsynced, so a kill loses at most the line being written."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_torn_tail(self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _repair_torn_tail(path: Path, chunk: int = 1 << 16) -> None:
    """Cut a last line that has no newline (a write interrupted by a crash) so appends start clean. A file with
    no complete line at all is not a JSONL file that ptst was appending to: it is refused, never cut."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        pos = end
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            cut = f.read(pos - start).rfind(b"\n")
            if cut >= 0:
                f.truncate(start + cut + 1)
                return
            pos = start
    raise PtstError(f"{path}: holds no complete JSON line; it is not a file ptst appends to (nothing was changed)")


def read_jsonl_rows(path: str | os.PathLike) -> Iterator[dict]:
    """Rows of a JSONL file that ptst wrote itself; a torn last line (no newline) is skipped. A line that is not
    a JSON object (or holds what `parse_json` refuses) is a PtstError naming the file and the line."""
    for n, line in iter_text_lines(path):
        if not line.endswith("\n"):
            return
        if not line.strip():
            continue
        row = parse_json_object(line, f"{path}: line {n}")
        yield row
