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
from ptst.score.base import Scorer
from ptst.score.base import scorers as scorers_registry
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
    """Samples without a score that the judge did not decline (no reply could be read, every call failed, or
    nothing to score)."""
    return sum(1 for r in results if r is None or r.get("status", "scored") not in ("scored", "judge_refused"))


def judge_refused_count(results: Sequence[dict | None]) -> int:
    """Samples the judge declined to grade: their own bucket, neither safe nor unsafe."""
    return sum(1 for r in results if r is not None and r.get("status") == "judge_refused")


def nothing_scored_reason(results: Sequence[dict | None], expects: str = "a verdict") -> str | None:
    """Why not one sample was scored, in a few words (None when some were, or there were none): judge calls that
    failed, judge replies without a verdict (`expects`: what the scorer reads), a judge that declined, samples
    without a reference answer."""
    if not results or any(r is not None and r.get("status", "scored") == "scored" for r in results):
        return None
    failed = [r for r in results if r is not None and r.get("status") == "failed"]
    unread = [r for r in results if r is not None and r.get("status") == "unscored"]
    declined = judge_refused_count(results)
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
        parts.append(f"{len(unread)} judge repl{'y' if len(unread) == 1 else 'ies'} held no {expects} "
                     f"(the first: {first!r})")
    if declined:
        parts.append(f"the judge declined to grade {declined} sample(s)")
    if missing:
        parts.append(f"{missing} sample(s) had no usable reference answer (the 'reference' field)")
    return "; ".join(parts)


def _json_number(value: float) -> float | None:
    """JSON has no NaN: a metric over no scored sample has no value."""
    return None if isinstance(value, float) and math.isnan(value) else value


def panel_name(scorers: Sequence[Scorer]) -> str:
    """What a scored file's summary names as its scorer: the scorer, or a panel's scorers joined by '+'."""
    return "+".join(s.name for s in scorers)


def panel_settings(scorers: Sequence[Scorer]) -> dict:
    """What decides the scores beside the scorers' names; a panel's prefixed by each scorer's name."""
    if len(scorers) == 1:
        return dict(getattr(scorers[0], "settings", {}))
    return {f"{s.name}.{k}": v for s in scorers for k, v in getattr(s, "settings", {}).items()}


def score_file(path: str | Path, scorers: Scorer | Sequence[Scorer], out: str | Path, *,
               rows: list[dict] | None = None) -> dict:
    """Score `path` (its rows as `read_samples` read them, when given) with one scorer or several (a panel) into
    `out` and write `out`.summary.json; returns the summary: per scorer its counts and metrics (with one scorer,
    also at the top level). A scorer that scored nothing has `nothing_scored` saying why, and metrics with no
    value (null)."""
    if Path(out).resolve() == Path(path).resolve():
        raise PtstError(f"--out {out}: is the input file; scoring never modifies its input, choose another path")
    panel = [scorers] if not isinstance(scorers, Sequence) else list(scorers)
    if rows is None:
        needs = [n for s in panel for n in getattr(scorers_registry.get(s.name), "needs", ())]
        rows = read_samples(path, scorer=panel_name(panel), needs=list(dict.fromkeys(needs)))
    n, entries = len(rows), []
    for scorer in panel:
        rows, results = apply_scores(rows, scorer)
        metrics: list[Metric] = scorer.summarize(results)
        refused = judge_refused_count(results)
        entry = {"scorer": scorer.name, "settings": dict(getattr(scorer, "settings", {})),
                 "n_scored": n - unscored_count(results) - refused, "n_unscored": unscored_count(results),
                 "n_judge_refused": refused,
                 "n_failed": sum(1 for r in results if r is not None and r.get("status") == "failed"),
                 "metrics": [{k: _json_number(v) for k, v in m.to_dict().items()} for m in metrics]}
        why = nothing_scored_reason(results, getattr(scorer, "expects", "a verdict"))
        if why:
            entry["nothing_scored"] = why
        entries.append({**entry, "metric_objects": metrics})
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    summary = {"input": str(path), "output": str(out), "scorer": panel_name(panel), "settings": panel_settings(panel),
               "n": n, "scorers": [{k: v for k, v in e.items() if k != "metric_objects"} for e in entries]}
    if len(entries) == 1:
        summary.update(summary["scorers"][0])
    atomic_write_json(f"{out}.summary.json", summary)
    return {**summary, "entries": entries, **({"metric_objects": entries[0]["metric_objects"]}
                                              if len(entries) == 1 else {})}
