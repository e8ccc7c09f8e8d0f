"""Cells of the study that a run directory does not hold complete: a merge of shards records the whole study's
cells (`study_cells`); the report names those still missing rather than showing a smaller table as if it were
the study."""

from __future__ import annotations

import json
from pathlib import Path

from ptst.store.study_store import StudyStore


def absent_cells(run_dir: str | Path) -> tuple[list[dict], int]:
    """(the study's cells not generated here, the study's cell count); ([], 0) for a run that is not a merge."""
    store = StudyStore(run_dir)
    try:
        study = json.loads(store.get_meta("study_cells") or "[]")
        done = {c["id"] for c in store.cells() if c["generated"]}
    finally:
        store.close()
    return [c for c in study if c["id"] not in done], len(study)


def describe(cell: dict) -> str:
    seed = f" seed {cell['seed']}" if cell.get("seed") is not None else ""
    shard = f"shard {cell['shard']}: " if cell.get("shard") else ""
    return f"{shard}{cell['row']}{seed} -> {cell['test']} on {cell['eval']}"


def absent_markdown(absent: list[dict], total: int) -> str:
    rows = "\n".join(f"| {c.get('shard') or ''} | `{c['row']}` | {'' if c.get('seed') is None else c['seed']} | "
                     f"`{c['test']}` | {c['eval']} |" for c in absent)
    return (f"## Absent cells ({len(absent)} of {total})\n\nThese cells of the study are not in this run directory "
            "(their shard was not merged, or had not finished them), so the tables above leave them out:\n\n"
            f"| shard | train | seed | test | set |\n|---|---|---|---|---|\n{rows}\n")
