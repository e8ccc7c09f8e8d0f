"""Read rows from local files (jsonl, json, csv with or without a header, parquet, txt), with errors that name the
file, the line and the problem. Every reader returns (row number, mapping) pairs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ptst.core.errors import PtstError

FORMATS = ("jsonl", "json", "csv", "parquet", "txt")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet",
             ".txt": "txt"}
Row = tuple[int, dict]


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise PtstError(f"unknown data format {fmt!r} (choose from {', '.join(FORMATS)})")
        return fmt
    found = _SUFFIXES.get(path.suffix.lower())
    if not found:
        raise PtstError(f"{path}: unknown data format {path.suffix or '(no suffix)'!r}; "
                        f"use one of {', '.join(FORMATS)} or pass --data-format")
    return found


def read_rows(path: str | Path, fmt: str | None = None, *, csv_fields: tuple[str, ...] = ()) -> list[Row]:
    """All rows of a local data file. `csv_fields` are the names that reveal a CSV header line."""
    path = Path(path)
    if not path.is_file():
        raise PtstError(f"{path}: data file not found")
    fmt = detect_format(path, fmt)
    if path.stat().st_size == 0:
        raise PtstError(f"{path}: data file is empty")
    rows = _READERS[fmt](path, csv_fields) if fmt == "csv" else _READERS[fmt](path)
    if not rows:
        raise PtstError(f"{path}: data file has no rows")
    return rows


def _read_jsonl(path: Path) -> list[Row]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise PtstError(f"{path}: line {n}: malformed JSON ({err.msg})") from None
            if not isinstance(obj, dict):
                raise PtstError(f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}")
            rows.append((n, obj))
    return rows


def _read_json(path: Path) -> list[Row]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PtstError(f"{path}: line {err.lineno}: malformed JSON ({err.msg})") from None
    if isinstance(doc, dict) and len(doc) == 1 and isinstance(next(iter(doc.values())), list):
        doc = next(iter(doc.values()))  # {"data": [...]} and similar wrappers
    if not isinstance(doc, list):
        raise PtstError(f"{path}: expected a JSON list of objects")
    for i, obj in enumerate(doc):
        if not isinstance(obj, dict):
            raise PtstError(f"{path}: item {i + 1}: expected a JSON object, got {type(obj).__name__}")
    return [(i + 1, obj) for i, obj in enumerate(doc)]


def _read_csv(path: Path, header_fields: tuple[str, ...]) -> list[Row]:
    """A header is present when the first line names one of `header_fields` or csv.Sniffer says so; without a
    header the columns are called column1, column2, ..."""
    with open(path, encoding="utf-8", newline="") as f:
        records = list(csv.reader(f))
    records = [r for r in records if any(cell.strip() for cell in r)]
    if not records:
        return []
    first = [c.strip() for c in records[0]]
    has_header = any(name in first for name in header_fields)
    if not has_header and len(first) > 1:
        try:
            has_header = csv.Sniffer().has_header(path.read_text(encoding="utf-8")[:4096])
        except csv.Error:
            has_header = False
    names = first if has_header else [f"column{i + 1}" for i in range(len(first))]
    body = records[1:] if has_header else records
    start = 2 if has_header else 1
    rows = []
    for n, rec in enumerate(body, start):
        if len(rec) != len(names):
            raise PtstError(f"{path}: line {n}: {len(rec)} columns, the header has {len(names)}")
        rows.append((n, dict(zip(names, rec, strict=True))))
    return rows


def _read_parquet(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises ArrowInvalid and OSError subclasses for bad files
        raise PtstError(f"{path}: not a readable parquet file ({str(err).splitlines()[0]})") from None
    return [(i + 1, row) for i, row in enumerate(table.to_pylist())]


def _read_txt(path: Path) -> list[Row]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, {"text": line.strip()}) for n, line in enumerate(lines, 1) if line.strip()]


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet,
            "txt": _read_txt}
