"""Score a JSONL file of samples: read, score, write a new JSONL with `scores.NAME` added (the input is never
modified), and summarise."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import atomic_write_json, atomic_write_text
from ptst.core.validation import validate_record
from ptst.data.readers import read_rows
from ptst.score.base import Scorer, scorers
from ptst.score.metrics import Metric
from ptst.store.records import SampleLine


def read_samples(path: str | Path, *, scorer: str | None = None, needs: Sequence[str] = ()) -> list[dict]:
    """Rows of a samples file, each a valid `SampleLine` (an 'output' string; text fields text) holding the
    fields `needs` that `scorer` reads besides it."""
    try:
        rows = read_rows(path, "jsonl")
    except PtstError as err:
        raise PtstError(str(err).replace("data file", "samples file").replace("has no rows", "no samples")) from None
    for n, row in rows:
        if "output" not in row:
            raise PtstError(f"{path}: line {n}: expected an object with an 'output' string (as ptst generate writes)")
        record = validate_record(SampleLine, row, f"{path}: line {n}")
        missing = [name for name in needs if getattr(record, name, None) is None]
        if missing:
            raise PtstError(f"{path}: line {n}: field {missing[0]!r} is missing; the {scorer} scorer needs it")
    return [row for _, row in rows]


def apply_scores(rows: Sequence[dict], scorer: Scorer) -> tuple[list[dict], list[dict | None]]:
    """New rows with `scores[scorer.name]` set (None when unscored), and the raw results."""
    results = scorer.score(rows)
    out = []
    for row, result in zip(rows, results, strict=True):
        out.append({**row, "scores": {**(row.get("scores") or {}), scorer.name: result}})
    return out, results


def unscored_count(results: Sequence[dict | None]) -> int:
    return sum(1 for r in results if r is None or r.get("status", "scored") != "scored")


def nothing_scored_reason(results: Sequence[dict | None]) -> str | None:
    """Why not one sample was scored, in a few words (None when some were, or there were none): judge calls that
    failed, judge replies without a score, samples without a reference answer."""
    if not results or len(results) != unscored_count(results):
        return None
    failed = [r for r in results if r is not None and r.get("status") == "failed"]
    unread = [r for r in results if r is not None and r.get("status") == "unscored"]
    missing = sum(1 for r in results if r is None)
    if len(failed) == len(results):
        if len(failed) > 1 and not any(r.get("attempts") for r in failed[1:]):
            return (f"the first judge call failed ({failed[0].get('error')}), so the other {len(failed) - 1} "
                    "were not sent")
        return f"all {len(failed)} judge calls failed ({failed[0].get('error')})"
    parts = []
    if failed:
        parts.append(f"{len(failed)} judge call(s) failed ({failed[0].get('error')})")
    if unread:
        first = " ".join(str(unread[0].get("raw") or "").split())
        first = first if len(first) <= 60 else first[:57] + "..."
        parts.append(f"{len(unread)} judge repl{'y' if len(unread) == 1 else 'ies'} held no '#thescore: N' with N "
                     f"1-5 (the first: {first!r})")
    if missing:
        parts.append(f"{missing} sample(s) had no usable reference answer (the 'reference' field)")
    return "; ".join(parts)


def _json_number(value: float) -> float | None:
    """JSON has no NaN: a metric over no scored sample has no value."""
    return None if isinstance(value, float) and math.isnan(value) else value


def score_file(path: str | Path, scorer: Scorer, out: str | Path, *, rows: list[dict] | None = None) -> dict:
    """Score `path` (its rows as `read_samples` read them, when given) into `out` and write `out`.summary.json;
    returns the summary. With nothing scored the summary's `nothing_scored` says why and its metrics have no value
    (null)."""
    if Path(out).resolve() == Path(path).resolve():
        raise PtstError(f"--out {out}: is the input file; scoring never modifies its input, choose another path")
    if rows is None:
        rows = read_samples(path, scorer=scorer.name, needs=getattr(scorers.get(scorer.name), "needs", ()))
    scored_rows, results = apply_scores(rows, scorer)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scored_rows))
    metrics: list[Metric] = scorer.summarize(results)
    summary = {"input": str(path), "output": str(out), "scorer": scorer.name,
               "settings": dict(getattr(scorer, "settings", {})), "n": len(rows),
               "n_scored": len(rows) - unscored_count(results), "n_unscored": unscored_count(results),
               "n_failed": sum(1 for r in results if r is not None and r.get("status") == "failed"),
               "metrics": [{k: _json_number(v) for k, v in m.to_dict().items()} for m in metrics]}
    why = nothing_scored_reason(results)
    if why:
        summary["nothing_scored"] = why
    atomic_write_json(f"{out}.summary.json", summary)
    return {**summary, "metric_objects": metrics}
