"""Results in long format, computed from the store: one row per (cell, metric), plus the pieces tables need."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ptst.core.validation import validate_record
from ptst.data import get_dataset
from ptst.score import scorers
from ptst.score.base import metric_info
from ptst.store.run_dir import RunDir
from ptst.store.study_store import StudyStore


class _DeclaredLabels(Mapping[str, str]):
    """Metric name -> label, as the scorers declare them (`MetricInfo`); an undeclared metric reads as its name."""

    def __getitem__(self, metric: str) -> str:
        return metric_info(metric).label

    def __iter__(self) -> Iterator[str]:
        return iter([info.name for _, factory in scorers.items() for info in factory.metrics])

    def __len__(self) -> int:
        return sum(len(factory.metrics) for _, factory in scorers.items())


LABELS: Mapping[str, str] = _DeclaredLabels()


@dataclass
class Result:
    train_template: str  # the row: "base" before fine-tuning, the training template, or a baseline's name
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
    """Every metric of every active cell, and the study config stored with the run, with `template_safety`
    added: whether each of its templates carries a safety prompt, from the definitions the run directory keeps
    (nothing is looked up in, or left in, any registry)."""
    store = StudyStore(run_dir)
    cfg = store.config()
    stored = store.templates()
    cfg["template_safety"] = template_safety(stored or _manifest_templates(Path(run_dir)),
                                             f"{store.path}: table meta, key 'templates'" if stored else
                                             f"{Path(run_dir) / 'manifest.json'}: templates")
    for b in (cfg.get("train") or {}).get("baselines") or []:  # a baseline's row: its training template's kind
        cfg["template_safety"][b["name"]] = cfg["template_safety"].get(b["template"], False)
    evals = {e["name"]: e for e in cfg.get("evals", [])}
    failed = store.failed_scores()  # `ptst run` ends with an error naming them; the report shows them as failed
    out: list[Result] = []
    for cell in store.active_cells():
        if cell["eval_name"] not in evals:
            continue
        ev = evals[cell["eval_name"]]
        role = get_dataset(ev["data"]).role
        samples = store.samples(cell["id"])
        for name in ev["scorers"]:
            by_id = store.scores(cell["id"], name)
            results = [by_id.get(s["id"]) for s in samples if s["id"] in by_id]
            if not results:
                if f"{cell['id']}/{name}" in failed:  # shown as failed, never as a number
                    out += [Result(cell["label"], cell["test_template"], cell["seed"], cell["step"],
                                   cell["eval_name"], role, name, info.name, math.nan, 0, math.nan, math.nan, "failed")
                            for info in scorers.get(name).metrics]
                continue
            for m in scorers.get(name).summarize(results):
                out.append(Result(cell["label"], cell["test_template"], cell["seed"], cell["step"],
                                  cell["eval_name"], role, name, m.name, m.value, m.n, m.low, m.high, m.covers))
    store.close()
    return out, cfg


def template_safety(definitions: dict[str, dict], where: str = "templates") -> dict[str, bool]:
    """Template name -> carries a safety system prompt, from stored definitions (runs made before ptst stored
    them fall back to their manifest's template texts, and to the built-ins)."""
    from ptst.templates import Template
    from ptst.templates.builtin import BUILTIN_TEMPLATES
    from ptst.templates.safety import is_safety_template

    known = {t.name: t for t in BUILTIN_TEMPLATES}
    known |= {name: validate_record(Template, {**d, "name": name}, f"{where}: {name}")
              for name, d in definitions.items()}
    return {name: is_safety_template(t) for name, t in known.items()}


def _manifest_templates(run_dir: Path) -> dict[str, dict]:
    templates = RunDir(run_dir).load_manifest().get("templates", {})
    return {name: {k: v for k, v in d.items() if k != "hash"} for name, d in templates.items()}


def primary_metrics(results: list[Result]) -> list[tuple[str, str]]:
    """(dataset, metric) pairs to show in grids: the metrics whose scorer declares them for the data set's role,
    in the config's eval order, then its scorer order, then the order each scorer declares its metrics."""
    rank: dict[tuple[str, str], tuple[int, int, int]] = {}
    datasets: list[str] = []
    scorers_of: dict[str, list[str]] = {}
    for r in results:
        if (r.dataset, r.metric) in rank or r.role not in metric_info(r.metric).grid_roles:
            continue
        datasets += [] if r.dataset in datasets else [r.dataset]
        order = scorers_of.setdefault(r.dataset, [])
        order += [] if r.scorer in order else [r.scorer]
        declared = [m.name for m in scorers.get(r.scorer).metrics]
        rank[(r.dataset, r.metric)] = (datasets.index(r.dataset), order.index(r.scorer), declared.index(r.metric))
    return sorted(rank, key=lambda pair: rank[pair])


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
