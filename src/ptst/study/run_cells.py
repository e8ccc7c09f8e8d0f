"""The run-cells API: evaluate a study's cells (generate, then score) through its executor. `run_cells` runs a
study that trains nothing (the pre-flight is one); `ptst.study.runner` adds training in front of the same
pieces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ptst.core.console import note
from ptst.models.engines import Engine, engines
from ptst.store.run_dir import RunDir
from ptst.store.study_store import FILENAME as STORE_FILE
from ptst.store.study_store import StudyStore
from ptst.study.config import StudyConfig, with_compute_dtype
from ptst.study.estimate import Done, reference_rates, unit_costs
from ptst.study.evaluate import EvalContext, EvalTask, VariantCells
from ptst.study.executors import executors
from ptst.study.open_run import open_run
from ptst.study.plan import Plan, TrainingRun, estimated_steps
from ptst.study.progress import StudyProgress
from ptst.study.training import needs_training


def evaluation_tasks(parts: Sequence[VariantCells], engine: Engine) -> list[EvalTask]:
    """One task per variant, or, for an engine that attaches adapters per request, one task for all."""
    if not parts:
        return []
    return [EvalTask(list(parts))] if engine.per_request_adapters else [EvalTask([p]) for p in parts]


def total_units(cfg: StudyConfig, plan: Plan) -> float:
    """The whole study's work: one unit per sample of the final models plus one per trained example."""
    step_units = cfg.train.hyper.batch_size if cfg.train else 0
    total = sum(plan.items[c.eval_set.name] for c in plan.cells)
    return total + sum(estimated_steps(cfg, plan.train_items, run) for run in plan.trainings) * step_units


def units_left(cfg: StudyConfig, plan: Plan, store: StudyStore, to_train: Iterable[TrainingRun]) -> float:
    """The work this invocation still has to do, in `total_units`' units: the samples the store lacks and the
    training runs in TO_TRAIN. A resumed or extended run counts only these, so its bar ends at 100% and its
    time left is not inflated by work an earlier run did."""
    step_units = cfg.train.hyper.batch_size if cfg.train else 0
    samples = sum(max(plan.items[c.eval_set.name] - len(store.sample_ids(c.id)), 0) for c in plan.cells)
    return samples + sum(estimated_steps(cfg, plan.train_items, run) for run in to_train) * step_units


def study_progress(cfg: StudyConfig, plan: Plan, store: StudyStore, to_train: Sequence[TrainingRun],
                   run_dir: Path, enabled: bool = True) -> StudyProgress:
    """The study's display for what this invocation still has to do (after a note when part of it is done),
    its time left weighed by the estimated cost of each unit on this machine."""
    left = units_left(cfg, plan, store, to_train)
    if enabled:
        resume_note(cfg, plan, left, run_dir)
    costs = unit_costs(cfg, plan, _rates(cfg))
    step_units = cfg.train.hyper.batch_size if cfg.train else 0
    cost_left = costs.of(sum(estimated_steps(cfg, plan.train_items, run) for run in to_train) * step_units)
    cost_left += sum(costs.of(max(plan.items[c.eval_set.name] - len(store.sample_ids(c.id)), 0), c.id)
                     for c in plan.cells)
    return StudyProgress(left, enabled=enabled, costs=costs, cost_total=cost_left)


def _rates(cfg: StudyConfig):
    """This machine's cached calibration, else the reference constants (only the costs' ratios matter here)."""
    from ptst.core.errors import PtstError
    from ptst.study.calibrate import rates_for

    try:
        return rates_for(cfg, "no") or reference_rates(cfg)
    except (PtstError, KeyError, TypeError, ValueError):  # a damaged calibration cache must not stop a run
        return reference_rates(cfg)


def work_done(plan: Plan, run_dir: Path, artifacts: str | Path | None = None) -> Done | None:
    """What RUN_DIR's store already holds of PLAN (samples per cell, training runs that will not train again),
    read without writing anything; None where the directory holds no store yet."""
    if not (run_dir / STORE_FILE).is_file():
        return None
    store = StudyStore(run_dir, read_only=True)
    try:
        out = RunDir(Path(artifacts or run_dir))
        return Done({c.id: len(store.sample_ids(c.id)) for c in plan.cells},
                    frozenset(t.id for t in plan.trainings if not needs_training(store, out, t)))
    finally:
        store.close()


def resume_note(cfg: StudyConfig, plan: Plan, left: float, run_dir: Path) -> None:
    """One line when part of the work is already in the store: how much, so the bar's smaller total is read
    right."""
    total = total_units(cfg, plan)
    if left < total:
        note(f"resuming: {total - left:,.0f} of {total:,.0f} units of work (samples and trained examples) are "
             f"already in {run_dir}; the progress counts the {left:,.0f} left")


def run_cells(cfg: StudyConfig, run_dir: str | Path, *, allow_extend: bool = False, progress: bool = True) -> Plan:
    """Evaluate every cell of a study without training runs (resumable like any study)."""
    run_dir, cfg = Path(run_dir), with_compute_dtype(cfg)
    engine = engines.get(cfg.engine)
    engine.check()
    plan, store = open_run(cfg, run_dir, allow_extend=allow_extend)
    with study_progress(cfg, plan, store, [], run_dir, progress) as bar:
        ctx = EvalContext(cfg, run_dir, store, plan, engine, bar)
        parts = [VariantCells(v, plan.cells_of(v), None) for v in plan.variants if v.training is None]
        executors.get(cfg.executor).run(evaluation_tasks(parts, engine), ctx)
    store.close()
    return plan
