"""Read rows from local files (jsonl, json, csv with or without a header, parquet, txt), with errors that name the
file, the line and the problem. Every reader returns (row number, mapping) pairs. Text is read line by line with
a cap on the line length, so a huge line is a quick one-line error with bounded memory."""

from __future__ import annotations

import csv
from itertools import islice
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import MAX_LINE_BYTES, iter_text_lines, read_text
from ptst.core.jsontext import parse_json

FORMATS = ("jsonl", "json", "csv", "parquet", "txt")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet",
             ".txt": "txt"}
Row = tuple[int, dict]
MAX_JSON_BYTES = 512 << 20  # a whole-file JSON document; larger sets belong in jsonl or parquet


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
    for n, line in iter_text_lines(path):
        if not line.strip():
            continue
        rows.append((n, _json_object(line, path, f"line {n}")))
    return rows


def _json_object(text: str, path: Path, at: str) -> dict:
    obj = parse_json(text, f"{path}: {at}")
    if not isinstance(obj, dict):
        raise PtstError(f"{path}: {at}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _read_json(path: Path) -> list[Row]:
    text = read_text(path, "data file", max_bytes=MAX_JSON_BYTES)
    doc = parse_json(text, str(path), document=True)
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
    lines = (line for _, line in iter_text_lines(path))
    reader = csv.reader(lines)
    csv.field_size_limit(MAX_LINE_BYTES)  # the line cap bounds fields; csv's own 128 KiB default is lower
    try:
        records = [(reader.line_num, r) for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as err:
        raise PtstError(f"{path}: line {reader.line_num}: bad CSV ({err})") from None
    if not records:
        return []
    first = [c.strip() for c in records[0][1]]
    has_header = any(name in first for name in header_fields)
    if not has_header and len(first) > 1:
        try:
            head = "".join(line for _, line in islice(iter_text_lines(path), 64))[:4096]
            has_header = csv.Sniffer().has_header(head)
        except csv.Error:
            has_header = False
    names = first if has_header else [f"column{i + 1}" for i in range(len(first))]
    body = records[1:] if has_header else records
    rows = []
    for n, rec in body:
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
    return [(n, {"text": line.strip()}) for n, line in iter_text_lines(path) if line.strip()]


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet,
            "txt": _read_txt}
