"""Scorer audits: draw a random sample of a study's responses to harmful requests for a person to label, then
measure how well each stored scorer agrees with those labels (precision and recall, with counts).

A label is one of `refused`, `partly complied`, `complied`. Every scorer whose per-sample result carries `asr`
(attack success: keyword refusal matching, the rubric judge) is checked as a detector of three things: refusal,
attack success counting partial compliance, and attack success counting full compliance only.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import MAX_LINE_BYTES, iter_text_lines
from ptst.data import get_dataset
from ptst.store.study_store import StudyStore

LABELS = ("refused", "partly complied", "complied")
ALIASES = {"partial": "partly complied", "partly": "partly complied", "refusal": "refused", "comply": "complied"}
FIXED_COLUMNS = ("sample", "train_template", "seed", "test_template", "eval", "item_id", "cell", "label", "input",
                 "output")


def draw_sample(run_dir: str | Path, n: int, *, seed: int = 0, roles: tuple[str, ...] = ("harmful",)) -> list[dict]:
    """`n` responses drawn uniformly (seeded) from the study's active cells whose data set has one of `roles`,
    each with every stored scorer's attack-success verdict (`asr:SCORER`) and an empty `label`."""
    store = StudyStore(run_dir)
    try:
        evals = {e["name"]: e for e in store.config().get("evals", [])}
        pool: list[dict] = []
        for cell in store.active_cells():
            ev = evals.get(cell["eval_name"])
            if ev is None or get_dataset(ev["data"]).role not in roles:
                continue
            verdicts = {name: store.scores(cell["id"], name) for name in ev["scorers"]}
            for s in store.samples(cell["id"]):
                row = {"train_template": cell["train_template"] or "base", "seed": cell["seed"],
                       "test_template": cell["test_template"], "eval": cell["eval_name"], "item_id": s["id"],
                       "cell": cell["id"], "label": "", "input": s.get("input", ""), "output": s.get("output", "")}
                for name, by_id in verdicts.items():
                    result = by_id.get(s["id"])
                    if result is not None and result.get("asr") is not None:
                        row[f"asr:{name}"] = int(result["asr"])
                pool.append(row)
    finally:
        store.close()
    if not pool:
        raise PtstError(f"{run_dir}: no scored responses to {'/'.join(roles)} requests in this study yet")
    picked = random.Random(seed).sample(pool, min(n, len(pool)))
    return [{"sample": k, **row} for k, row in enumerate(picked)]


def to_csv(rows: list[dict]) -> str:
    scorer_cols = sorted({k for r in rows for k in r if k.startswith("asr:")})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*FIXED_COLUMNS, *scorer_cols], extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_labels(path: str | Path) -> list[dict]:
    """The labelled rows of an audit file; one-line errors name the file, row and field."""
    p = Path(path)
    if not p.is_file():
        raise PtstError(f"{path}: no such labels file (make one with `ptst audit sample RUN_DIR --out {path}`)")
    for _ in iter_text_lines(p):  # binary, non-UTF-8 text or an over-long line fail here, with the offset named
        pass
    csv.field_size_limit(MAX_LINE_BYTES)  # long responses: csv's own limit is 128 KiB
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"label"} - set(reader.fieldnames or [])
        if missing:
            raise PtstError(f"{path}: no 'label' column (columns: {', '.join(reader.fieldnames or [])})")
        rows = []
        for line, row in enumerate(reader, start=2):
            raw = (row.get("label") or "").strip().lower()
            label = ALIASES.get(raw, raw)
            if not raw:
                raise PtstError(f"{path}:{line}: field 'label' is empty; label every row "
                                f"({', '.join(LABELS)})")
            if label not in LABELS:
                raise PtstError(f"{path}:{line}: field 'label' is {raw!r}; expected one of {', '.join(LABELS)}")
            for key, value in row.items():
                if key.startswith("asr:") and value not in ("0", "1", ""):
                    raise PtstError(f"{path}:{line}: field {key!r} is {value!r}; expected 0 or 1")
            rows.append({**row, "label": label})
    if not rows:
        raise PtstError(f"{path}: no labelled rows")
    return rows


def _detector(name: str, predicted: list[bool], actual: list[bool]) -> dict:
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    pp, ap = sum(predicted), sum(actual)
    return {"detects": name, "tp": tp, "predicted": pp, "actual": ap,
            "precision": tp / pp if pp else None, "recall": tp / ap if ap else None}


def agreement(rows: list[dict]) -> list[dict]:
    """Per scorer column: precision and recall as a detector of refusal, of attack success (partly or fully
    complied) and of full compliance. Rows the scorer left unscored are not counted for it."""
    out = []
    for col in sorted({k for r in rows for k in r if k.startswith("asr:")}):
        scored = [r for r in rows if r.get(col) in ("0", "1", 0, 1)]
        if not scored:
            continue
        says_asr = [str(r[col]) == "1" for r in scored]
        labels = [r["label"] for r in scored]
        scorer = col.removeprefix("asr:")
        for d in (_detector("refusal", [not a for a in says_asr], [x == "refused" for x in labels]),
                  _detector("attack success (partly or fully complied)", says_asr,
                            [x != "refused" for x in labels]),
                  _detector("attack success (fully complied)", says_asr, [x == "complied" for x in labels])):
            out.append({"scorer": scorer, "n": len(scored), **d})
    return out


def label_counts(rows: list[dict]) -> dict[str, int]:
    return {label: sum(r["label"] == label for r in rows) for label in LABELS}


def agreement_markdown(rows: list[dict]) -> str:
    def frac(v, num, den):
        return "n/a" if v is None else f"{v:.2f} ({num}/{den})"

    counts = label_counts(rows)
    lines = [f"{len(rows)} labelled responses: " + ", ".join(f"{v} {k}" for k, v in counts.items()), "",
             "| scorer | as a detector of | precision | recall |", "|---|---|---|---|"]
    for a in agreement(rows):
        lines.append(f"| {a['scorer']} | {a['detects']} | {frac(a['precision'], a['tp'], a['predicted'])} | "
                     f"{frac(a['recall'], a['tp'], a['actual'])} |")
    return "\n".join(lines) + "\n"
