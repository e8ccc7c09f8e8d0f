"""Hypothesis strategies that mutate valid inputs: bytes (truncation, deletion, insertion of bytes that are not
UTF-8, NUL, an encoded surrogate), JSON and YAML values (a field deleted, a value replaced by an edge value, a type
swapped, a field added), text tokens that only a file can hold (NaN, Infinity, a 5,000-digit integer, 1e999,
YAML's .nan, !!binary, a self-referencing alias) and unicode (lone surrogates, control and bidi characters)."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

EDGE_NUMBERS = (0, -1, 1, 2, 3, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64, -2 ** 63 - 1,
                10 ** 30, -10 ** 30, 0.5, -0.5, 1.0, 1e308, -1e308, 5e-324, 1e-9)
EDGE_TEXT = ("", " ", "\x00", "\x1b[31m", "\ud800", "x\udfffy", "../../x", "a/b", "..", ".", "x" * 3000, "caf\u00e9",
             "\U0001f600", "\u202eevil", "{input}", "%s %s %d", "\n\n", "\r", "chat:llama", "builtin:harmful",
             "refusal-keywords", "rubric", "embedded:tiny-random", "#### 4", "A", "null", "-1", "1e999", "NaN")
JSON_TOKENS = ("NaN", "Infinity", "-Infinity", "9" * 5000, "-" + "9" * 30, "1e999", "-1E400", "1" + "0" * 25)
YAML_TOKENS = JSON_TOKENS[3:] + (".nan", ".inf", "-.inf", "!!binary aGk=", "2024-01-01", "~", "yes", "0x1F", "1_000",
                                 "0o17", "!!float 1e400", "*undefined", "!!python/object/apply:os.system [x]")
INSERTS = (b"\xff", b"\x00", b"\xed\xa0\x80", b"\xc3", b"\n", b'"', b"{", b"[", b"\\ud800", b"\r", b"\x1a",
           b"9" * 5000, b"\xef\xbb\xbf", b",", b": ", b"- ", b"&a [*a]", b"\t")


class Raw(str):
    """A token written into the file as it is (not as a JSON string)."""


_RAW = re.compile(r'"@@raw:(.*?)@@"')


def leaves(tokens: tuple[str, ...] = JSON_TOKENS):
    return st.one_of(st.sampled_from(EDGE_NUMBERS), st.sampled_from(EDGE_TEXT), st.sampled_from(tokens).map(Raw),
                     st.sampled_from([None, True, False, [], {}]), st.integers(-3, 300), st.text(max_size=12))


def values(tokens: tuple[str, ...] = JSON_TOKENS):
    return st.recursive(leaves(tokens), lambda inner: st.lists(inner, max_size=3) |
                        st.dictionaries(st.sampled_from(["a", "name", "input", "output", "id", ""]), inner,
                                        max_size=3), max_leaves=4)


def paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from paths(value, (*prefix, i))


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _swapped(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return [value] if len(value) % 2 else len(value)
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)} if value else "[]"
    if isinstance(value, dict):
        return list(value.values()) or None
    return 0


@st.composite
def mutated_doc(draw, doc: Any, tokens: tuple[str, ...] = JSON_TOKENS, at_most: int = 3,
                focus: tuple[str, ...] = ()) -> Any:
    """`doc` with 1 to `at_most` mutations, each at a random place (most often a top-level field named in `focus`,
    the fields the command reads): delete, replace, swap the type, add."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, at_most))):
        numbers = [p for p in paths(doc) if p and isinstance(_get(doc, p), (int, float))
                   and not isinstance(_get(doc, p), bool)]
        if numbers and draw(st.integers(0, 2)) == 0:  # huge, negative, fractional numbers where numbers go
            where = draw(st.sampled_from(numbers))
            _get(doc, where[:-1])[where[-1]] = draw(st.sampled_from(EDGE_NUMBERS) | st.sampled_from(tokens).map(Raw))
            continue
        focused = [(k,) for k in focus if isinstance(doc, dict) and k in doc]
        where = draw(st.sampled_from(focused) if focused and draw(st.integers(0, 3)) else
                     st.sampled_from(list(paths(doc))))
        op = draw(st.sampled_from(["delete", "replace", "replace", "swap", "add"]))
        if not where:
            if op in ("replace", "swap"):
                doc = draw(values(tokens)) if op == "replace" else _swapped(doc)
            elif isinstance(doc, dict):
                doc[draw(st.sampled_from(["unexpected", "name", "x" * 300]))] = draw(values(tokens))
            continue
        parent, key = _get(doc, where[:-1]), where[-1]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values(tokens))
        elif op == "swap":
            parent[key] = _swapped(parent[key])
        elif isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["unexpected", "seed", "name"]))] = draw(values(tokens))
        elif isinstance(parent[key], list):
            parent[key].append(copy.deepcopy(parent[key][0]) if parent[key] and draw(st.booleans())
                               else draw(values(tokens)))
        else:
            parent[key] = draw(values(tokens))
    return doc


def dump_json(doc: Any, *, indent: int | None = None) -> str:
    """JSON text (ASCII, so lone surrogates are written as \\udXXX escapes), Raw tokens in place."""
    def marked(value):
        if isinstance(value, Raw):
            return f"@@raw:{value}@@"
        if isinstance(value, dict):
            return {str(k): marked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [marked(v) for v in value]
        return value

    return _RAW.sub(lambda m: m.group(1), json.dumps(marked(doc), indent=indent, allow_nan=True))


@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["truncate", "delete", "insert", "insert", "overwrite", "duplicate"]))
        if op == "truncate":
            data = data[:i]
        elif op == "delete":
            data = data[:i] + data[i + draw(st.integers(1, 16)):]
        elif op == "insert":
            data = data[:i] + draw(st.sampled_from(INSERTS) | st.binary(min_size=1, max_size=6)) + data[i:]
        elif op == "overwrite":
            data = data[:i] + draw(st.binary(min_size=1, max_size=2)) + data[i + 1:]
        else:
            lines = data.splitlines(keepends=True)
            if lines:
                k = draw(st.integers(0, len(lines) - 1))
                data = b"".join(lines[:k + 1] + lines[k:])
    return data


@st.composite
def mutated_jsonl(draw, rows: list[dict], focus: tuple[str, ...] = ()) -> bytes:
    """A JSONL file: one line's object mutated, lines deleted or duplicated, or its bytes mutated."""
    kind = draw(st.sampled_from(["value", "value", "value", "lines", "bytes"]))
    if kind == "value":
        k = draw(st.integers(0, len(rows) - 1))
        rows = [*rows[:k], draw(mutated_doc(rows[k], focus=focus)), *rows[k + 1:]]
    elif kind == "lines":
        k = draw(st.integers(0, len(rows) - 1))
        rows = rows[:k] + rows[k + 1:] if draw(st.booleans()) else [*rows, rows[k]]
    data = "".join(dump_json(r) + "\n" for r in rows).encode()
    return draw(mutated_bytes(data)) if kind == "bytes" else data


@st.composite
def mutated_csv(draw, rows: list[list[str]]) -> bytes:
    """A CSV file: a cell replaced, a column or row added or removed, or its bytes mutated."""
    rows = copy.deepcopy(rows)
    kind = draw(st.sampled_from(["cell", "cell", "shape", "bytes"]))
    if kind == "cell":
        r, c = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(rows[0]) - 1))
        rows[r][c] = draw(st.sampled_from([t for t in EDGE_TEXT if "\ud800" not in t and "\udfff" not in t])
                          | st.text(max_size=10).filter(lambda t: "\x00" not in t))
    elif kind == "shape":
        r = draw(st.integers(0, len(rows) - 1))
        op = draw(st.sampled_from(["drop-row", "extra-cell", "drop-cell", "duplicate-row"]))
        if op == "drop-row":
            del rows[r]
        elif op == "extra-cell":
            rows[r].append("extra")
        elif op == "drop-cell" and rows[r]:
            rows[r].pop()
        else:
            rows.append(list(rows[r]))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    data = buf.getvalue().encode()
    return draw(mutated_bytes(data)) if kind == "bytes" else data


@st.composite
def mutated_yaml(draw, doc: Any, tokens: tuple[str, ...] = YAML_TOKENS) -> bytes:
    """A YAML file (written as JSON, which YAML reads): a value mutated with YAML's own tokens, or its bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(mutated_bytes(dump_json(doc, indent=1).encode()))
    return dump_json(draw(mutated_doc(doc, tokens)), indent=1).encode()
