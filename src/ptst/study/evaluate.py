"""Evaluate model variants: generate each cell's missing samples (through `ptst.generate.cells`, the path
`ptst generate` uses) and score them. A task is what one executor step runs; the context is what every task of
a run shares: the store, the engine, the scorers (each built once per run) and the progress display."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ptst.data.item import Item
from ptst.generate.cells import CellJob, Rendering, generate_cells, prepare_cell
from ptst.models.engines import Decoding, Engine, engines
from ptst.score.build import ScorerSet
from ptst.store.study_store import StudyStore
from ptst.study.config import StudyConfig
from ptst.study.plan import Cell, Plan, Variant, build_plan
from ptst.study.progress import StudyProgress
from ptst.templates import Template


@dataclass(frozen=True)
class VariantCells:
    variant: Variant
    cells: list[Cell]
    adapter: str | None  # the variant's adapter directory (None: the base model)


@dataclass
class EvalTask:
    """Variants to evaluate together: one for engines that load the adapter with the model; every variant of the
    study for engines that attach adapters per request (one engine for all)."""

    parts: list[VariantCells]


@dataclass
class EvalContext:
    cfg: StudyConfig
    run_dir: Path
    store: StudyStore
    plan: Plan
    engine: Engine
    progress: StudyProgress
    artifacts: Path | None = None  # where training runs write adapters (every node reads it); None: the run dir
    address: str | None = None  # the cluster of an executor that uses one (ray); None: a local one
    _scorers: ScorerSet | None = None

    def __post_init__(self) -> None:
        self.artifacts = Path(self.artifacts or self.run_dir)

    @classmethod
    def open(cls, cfg: StudyConfig, run_dir: str | Path, *, plan: Plan | None = None,
             progress: StudyProgress | None = None) -> EvalContext:
        """A context for a run directory (a remote executor's worker builds its own)."""
        return cls(cfg, Path(run_dir), StudyStore(run_dir), plan or build_plan(cfg), engines.get(cfg.engine),
                   progress or StudyProgress(0, enabled=False))

    def evaluate(self, task: EvalTask) -> None:
        evaluate_task(task, self)

    def scorer(self, name: str):
        if self._scorers is None:
            self._scorers = scorer_set(self.cfg)
        return self._scorers.get(name)


def evaluate_task(task: EvalTask, ctx: EvalContext) -> None:
    """Generate every missing sample of the task's cells, mark them generated, then score every cell."""
    cells = {_job(ctx, part, cell): cell for part in task.parts for cell in part.cells
             if not ctx.store.cell_generated(cell.id)}
    for group in generate_jobs(ctx.cfg, ctx.engine, list(cells)):
        for job in group:
            ctx.store.mark_generated(cells[job].id)
    for part in task.parts:
        for cell in part.cells:
            score_cell(ctx, cell)


def generate_jobs(cfg: StudyConfig, engine: Engine, jobs: Sequence[CellJob]) -> Iterator[list[CellJob]]:
    """Generate the jobs' missing samples with one model load per adapter (one load for all with an engine that
    takes adapters per request), yielding each group of jobs once generated. Every executor generates through
    here, in this process or on a worker."""
    rendering = Rendering(cfg.model, cfg.markup, cfg.system_policy)
    groups = [(None, list(jobs))] if engine.per_request_adapters else \
        [(adapter, [j for j in jobs if j.adapter == adapter]) for adapter in dict.fromkeys(j.adapter for j in jobs)]
    for adapter, group in groups:
        if not group:
            continue
        loaded = engine.load(cfg.model, adapter=adapter, dtype=cfg.dtype, device=cfg.device)
        generate_cells(engine, loaded, [prepare_cell(j, loaded, engine, rendering) for j in group],
                       batch_size=cfg.batch_size)
        yield group


def cell_job(cell: Cell, items: Sequence[Item], template: Template, adapter: str | None,
             write: Callable[[list[dict]], None], have: Iterable[str], begin=lambda n_have: None) -> CellJob:
    """The generation job of a study's cell (every sample records its cell's id)."""
    return CellJob(items, template, Decoding(**cell.decoding), adapter, cell.eval_set.data, write, have=set(have),
                   extra={"cell": cell.id}, begin=begin)


def _job(ctx: EvalContext, part: VariantCells, cell: Cell) -> CellJob:
    bar, final = ctx.progress, cell.variant.step is None  # checkpoints are extra work, outside the overall total
    items = ctx.plan.eval_items[cell.eval_set.name]
    label = f"{cell.variant.label}{'' if final else f'@{cell.variant.step}'}"

    def begin(n_have: int) -> None:
        bar.stage(f"generating {label} -> {cell.test_template} on {cell.eval_set.name}", len(items))
        bar.advance(n_have)  # the stage line only: the study's total counts the samples a cell still lacks

    def write(rows: list[dict]) -> None:
        ctx.store.add_samples(cell.id, rows)
        bar.advance(len(rows), len(rows) if final else 0, cell_id=cell.id)

    return cell_job(cell, items, ctx.plan.templates[cell.test_template], part.adapter, write,
                    ctx.store.sample_ids(cell.id), begin)


def score_cell(ctx: EvalContext, cell: Cell) -> None:
    """Score the cell's samples that each of its scorers has not scored yet (one transaction per scorer)."""
    samples = ctx.store.samples(cell.id)
    for name in cell.eval_set.scorers:
        done = ctx.store.scored_ids(cell.id, name)
        rows = [s for s in samples if s["id"] not in done]
        if rows:
            results = ctx.scorer(name).score(rows)
            failed = [(res or {}).get("status") == "failed" for res in results]  # not stored: a rerun retries them
            ctx.store.add_scores(cell.id, name, [(r["id"], res) for r, res, f in zip(rows, results, failed, strict=True)
                                                 if not f])
            ctx.store.note_failed_scores(cell.id, name, [res for res, f in zip(results, failed, strict=True) if f])


def scorer_set(cfg: StudyConfig) -> ScorerSet:
    """The study's scorers, each with the judge its config gives it (built once per run)."""
    return ScorerSet(cfg.judge_for, progress=False)
