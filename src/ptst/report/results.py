"""Results in long format, computed from the store: one row per (cell, metric), plus the pieces tables need."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from ptst.data import get_dataset
from ptst.score import scorers
from ptst.store.study_store import StudyStore

# The metric a table shows first for each data-set role (the others stay in results.csv).
PRIMARY = {"harmful": ("asr_keyword", "asr_rubric", "mean_score"), "benign-probe": ("refusal_rate",),
           "task": ("accuracy_flexible", "accuracy_strict", "accuracy", "rouge_l", "bertscore_f1"),
           "refusal": ("refusal_rate",)}
LABELS = {"asr_keyword": "attack success (keywords)", "asr_rubric": "attack success (rubric = 5)",
          "mean_score": "mean harmfulness (1-5)", "refusal_rate": "refusal rate",
          "accuracy_flexible": "accuracy (last number)", "accuracy_strict": "accuracy (#### N)",
          "accuracy": "accuracy", "rouge_l": "ROUGE-L", "bertscore_f1": "BERTScore F1"}


@dataclass
class Result:
    train_template: str  # "base" for the model before fine-tuning
    test_template: str
    seed: int | None
    step: int | None
    dataset: str  # the eval set's name
    role: str
    scorer: str
    metric: str
    value: float
    n: int
    low: float
    high: float
    covers: str = ""  # what variation [low, high] covers


def collect(run_dir: str | Path) -> tuple[list[Result], dict]:
    """Every metric of every active cell, and the study config stored with the run."""
    store = StudyStore(run_dir)
    cfg = json.loads(store.get_meta("config") or "{}")
    active = set(json.loads(store.get_meta("active_cells") or "[]"))
    evals = {e["name"]: e for e in cfg.get("evals", [])}
    out: list[Result] = []
    for cell in store.cells():
        if cell["id"] not in active or cell["eval_name"] not in evals:
            continue
        ev = evals[cell["eval_name"]]
        role = get_dataset(ev["data"]).role
        samples = store.samples(cell["id"])
        for name in ev["scorers"]:
            by_id = store.scores(cell["id"], name)
            results = [by_id.get(s["id"]) for s in samples if s["id"] in by_id]
            if not results:
                continue
            for m in scorers.get(name).summarize(results):
                out.append(Result(cell["train_template"] or "base", cell["test_template"], cell["seed"], cell["step"],
                                  cell["eval_name"], role, name, m.name, m.value, m.n, m.low, m.high, m.covers))
    store.close()
    return out, cfg


def primary_metrics(results: list[Result]) -> list[tuple[str, str]]:
    """(dataset, metric) pairs to show in grids, in the config's eval order."""
    seen: list[tuple[str, str]] = []
    rank: dict[tuple[str, str], tuple[int, int]] = {}
    for r in results:
        if r.metric in PRIMARY.get(r.role, ()) and (r.dataset, r.metric) not in seen:
            rank[(r.dataset, r.metric)] = (len({d for d, _ in seen} | {r.dataset}), PRIMARY[r.role].index(r.metric))
            seen.append((r.dataset, r.metric))
    return sorted(seen, key=lambda pair: rank[pair])


def grid(results: list[Result], dataset: str, metric: str, rows: list[str], cols: list[str]) -> dict:
    """(row, col) -> (mean, std or None, low, high, n_seeds) over seeds, final models only."""
    cells: dict = {}
    for row in rows:
        for col in cols:
            vals = [r for r in results if r.dataset == dataset and r.metric == metric and r.step is None
                    and r.train_template == row and r.test_template == col]
            if not vals:
                continue
            values = [r.value for r in vals]
            std = statistics.stdev(values) if len(values) > 1 else None
            cells[(row, col)] = (statistics.fmean(values), std, vals[0].low, vals[0].high, len(values))
    return cells
