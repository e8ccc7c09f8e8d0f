"""The run-cells API: evaluate a study's cells (generate, then score) through its executor. `run_cells` runs a
study that trains nothing (the pre-flight is one); `ptst.study.runner` adds training in front of the same
pieces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ptst.models.engines import Engine, engines
from ptst.study.config import StudyConfig, with_compute_dtype
from ptst.study.evaluate import EvalContext, EvalTask, VariantCells
from ptst.study.executors import executors
from ptst.study.open_run import open_run
from ptst.study.plan import Plan, estimated_steps
from ptst.study.progress import StudyProgress


def evaluation_tasks(parts: Sequence[VariantCells], engine: Engine) -> list[EvalTask]:
    """One task per variant, or, for an engine that attaches adapters per request, one task for all."""
    if not parts:
        return []
    return [EvalTask(list(parts))] if engine.per_request_adapters else [EvalTask([p]) for p in parts]


def total_units(cfg: StudyConfig, plan: Plan) -> float:
    """The overall progress total: one unit per sample of the final models plus one per trained example."""
    step_units = cfg.train.hyper.batch_size if cfg.train else 0
    total = sum(plan.items[c.eval_set.name] for c in plan.cells)
    return total + sum(estimated_steps(cfg, plan.train_items, run) for run in plan.trainings) * step_units


def run_cells(cfg: StudyConfig, run_dir: str | Path, *, allow_extend: bool = False, progress: bool = True) -> Plan:
    """Evaluate every cell of a study without training runs (resumable like any study)."""
    run_dir, cfg = Path(run_dir), with_compute_dtype(cfg)
    engine = engines.get(cfg.engine)
    engine.check()
    plan, store = open_run(cfg, run_dir, allow_extend=allow_extend)
    with StudyProgress(total_units(cfg, plan), enabled=progress) as bar:
        ctx = EvalContext(cfg, run_dir, store, plan, engine, bar)
        parts = [VariantCells(v, plan.cells_of(v), None) for v in plan.variants if v.training is None]
        executors.get(cfg.executor).run(evaluation_tasks(parts, engine), ctx)
    store.close()
    return plan
