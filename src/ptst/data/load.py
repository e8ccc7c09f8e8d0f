"""Load a registered data set as Items: from a local file (`--data-file`), the hub, or a built-in generator;
map fields, check values, take a seeded subsample."""

from __future__ import annotations

import random
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.hub import prepare_hub_access
from ptst.data.item import Item
from ptst.data.readers import Row, read_rows
from ptst.data.registry import DatasetSpec, get_dataset, side_of_split

_NEEDS_ANSWER = ("task", "refusal")
_FALLBACKS = ("text", "column1", "column2")  # txt files and CSV files without a header
MAX_TEXT_CHARS = 1_000_000  # one input or answer; bounds the work before anything is tokenised


def load_items(name: str, *, data_file: str | Path | None = None, data_format: str | None = None,
               input_field: str | None = None, answer_field: str | None = None, split: str | None = None,
               purpose: str = "eval", limit: int | None = None, seed: int = 0,
               file_flag: str = "--data-file") -> list[Item]:
    """Items of data set `name`. `limit` takes a seeded random subsample of that many rows (kept in file order);
    `purpose` picks the default hub split (train or eval); `file_flag` is the flag that gives this set's local file,
    named when the set cannot be had without one."""
    spec = get_dataset(name)
    if limit is not None and limit < 1:
        raise PtstError(f"--limit must be at least 1, got {limit}")
    if data_file is not None:
        where = str(data_file)
        fields = _candidate_fields(spec, input_field, answer_field)
        rows = read_rows(data_file, data_format, csv_fields=fields)
        items = _rows_to_items(spec, rows, where, input_field, answer_field)
    elif spec.generate is not None:
        items = spec.generate()
    else:
        split = split or (spec.train_split if purpose == "train" else spec.eval_split)
        rows, where = _hub_rows(spec, split, file_flag)
        items = _rows_to_items(spec, rows, where, input_field, answer_field)
    return subsample(side_of_split(spec, items, purpose), limit, seed)


def subsample(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    if limit is None or limit >= len(items):
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


def _candidate_fields(spec: DatasetSpec, input_field: str | None, answer_field: str | None) -> tuple[str, ...]:
    names = [input_field] if input_field else list(spec.input_fields)
    names += [answer_field or spec.answer_field or "", spec.extra_input_field or "", spec.category_field or ""]
    return tuple(n for n in names if n)


def _rows_to_items(spec: DatasetSpec, rows: list[Row], where: str, input_field: str | None,
                   answer_field: str | None) -> list[Item]:
    inputs = (input_field,) if input_field else (*spec.input_fields, "text", "column1")
    if answer_field:
        answer_candidates: tuple[str, ...] = (answer_field,)
    elif spec.role in _NEEDS_ANSWER:
        answer_candidates = tuple(n for n in (spec.answer_field, "column2") if n)
    else:
        answer_candidates = ()
    items = []
    for index, (line, row) in enumerate(rows):
        if spec.format_row is not None:
            row = spec.format_row(row)
        at = f"{where}: line {line}" if where.endswith((".jsonl", ".csv", ".txt")) else f"{where}: row {line}"
        text = _text_field(row, inputs, at, "input", "--input-field")
        if spec.extra_input_field and _is_text(row.get(spec.extra_input_field)):
            extra = row[spec.extra_input_field].strip()
            text = f"{text}\n\n{extra}" if extra else text
        ref = _text_field(row, answer_candidates, at, "answer", "--answer-field") if answer_candidates else None
        category = row.get(spec.category_field) if spec.category_field else None
        items.append(Item(f"{spec.name}-{index}", text, ref, str(category) if category is not None else None))
    return items


def _text_field(row: dict, names: tuple[str, ...], at: str, what: str, flag: str) -> str:
    for name in names:
        if name in row:
            value = row[name]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and what == "answer":
                return str(value)
            if not _is_text(value):
                raise PtstError(f"{at}: field {name!r} must be text, got {type(value).__name__}")
            if not value.strip():
                raise PtstError(f"{at}: field {name!r} is empty")
            if len(value) > MAX_TEXT_CHARS:
                raise PtstError(f"{at}: field {name!r} is {len(value):,} characters long, more than the "
                                f"{MAX_TEXT_CHARS:,} ptst takes for one item")
            return value
    found = ", ".join(map(str, row)) or "none"
    wanted = [n for n in names if n not in _FALLBACKS] or list(names)
    raise PtstError(f"{at}: no {what} field {' or '.join(map(repr, wanted))} (fields found: {found}); "
                    f"map one with {flag}")


def _is_text(value) -> bool:
    return isinstance(value, str)


def _hub_rows(spec: DatasetSpec, split: str, file_flag: str) -> tuple[list[Row], str]:
    hint = f" ({spec.file_hint})" if spec.file_hint else ""
    if not spec.hub_id:
        raise PtstError(f"data set {spec.name} has no hub copy: pass {file_flag} PATH{hint}")
    prepare_hub_access()
    try:
        import datasets as hf_datasets

        hf_datasets.logging.set_verbosity_error()
        ds = hf_datasets.load_dataset(spec.hub_id, spec.hub_config, split=split)
    except Exception as err:  # offline, unknown repo, gated: all end the same way for the user
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise PtstError(f"data set {spec.name}: cannot load {spec.hub_id} from the Hugging Face hub ({reason}); "
                        f"pass {file_flag} PATH with a local copy{hint}") from None
    return [(i + 1, dict(row)) for i, row in enumerate(ds)], f"hub {spec.hub_id}"
