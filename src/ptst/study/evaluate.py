"""Evaluate model variants: generate each cell's missing samples (through `ptst.generate.cells`, the path
`ptst generate` uses) and score them. A task is what one executor step runs; the context is what every task of
a run shares: the store, the engine, the scorers (each built once per run) and the progress display."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ptst.generate.cells import CellJob, Rendering, generate_cells, prepare_cell
from ptst.models.engines import Decoding, Engine, engines
from ptst.score import scorers
from ptst.store.study_store import StudyStore
from ptst.study.config import StudyConfig
from ptst.study.plan import Cell, Plan, Variant, build_plan
from ptst.study.progress import StudyProgress


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
    _scorers: dict = field(default_factory=dict)

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
        if name not in self._scorers:
            self._scorers[name] = make_scorer(self.cfg, name)
        return self._scorers[name]


def evaluate_task(task: EvalTask, ctx: EvalContext) -> None:
    """Generate every missing sample of the task's cells, mark them generated, then score every cell."""
    jobs = {part.variant.id: [_job(ctx, part, cell) for cell in part.cells if not ctx.store.cell_generated(cell.id)]
            for part in task.parts}
    rendering = Rendering(ctx.cfg.model, ctx.cfg.markup, ctx.cfg.system_policy)
    groups = ([(None, [j for part in task.parts for j in jobs[part.variant.id]])] if ctx.engine.per_request_adapters
              else [(part.adapter, jobs[part.variant.id]) for part in task.parts])
    for adapter, group in groups:
        if not group:
            continue
        loaded = ctx.engine.load(ctx.cfg.model, adapter=adapter, dtype=ctx.cfg.dtype, device=ctx.cfg.device)
        generate_cells(ctx.engine, loaded, [prepare_cell(j, loaded, ctx.engine, rendering) for j, _ in group],
                       batch_size=ctx.cfg.batch_size)
        for _, cell in group:
            ctx.store.mark_generated(cell.id)
    for part in task.parts:
        for cell in part.cells:
            score_cell(ctx, cell)


def _job(ctx: EvalContext, part: VariantCells, cell: Cell) -> tuple[CellJob, Cell]:
    bar, final = ctx.progress, cell.variant.step is None  # checkpoints are extra work, outside the overall total
    items = ctx.plan.eval_items[cell.eval_set.name]
    label = f"{cell.variant.label}{'' if final else f'@{cell.variant.step}'}"

    def begin(n_have: int) -> None:
        bar.stage(f"generating {label} -> {cell.test_template} on {cell.eval_set.name}", len(items))
        bar.advance(n_have, n_have if final else 0)

    def write(rows: list[dict]) -> None:
        ctx.store.add_samples(cell.id, rows)
        bar.advance(len(rows), len(rows) if final else 0)

    job = CellJob(items, ctx.plan.templates[cell.test_template], Decoding(**cell.decoding), part.adapter,
                  cell.eval_set.data, write, have=ctx.store.sample_ids(cell.id), extra={"cell": cell.id},
                  begin=begin)
    return job, cell


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


def make_scorer(cfg: StudyConfig, name: str):
    factory = scorers.get(name)
    if name != "rubric":
        return factory()
    from ptst.core.paths import ptst_home
    from ptst.score.judges import make_judge
    from ptst.store.judge_cache import JudgeCache

    j = cfg.judge
    options = {"api_key_env": j.api_key_env, "concurrency": j.concurrency, "max_retries": j.max_retries,
               "timeout": j.timeout} if j.base_url else {}
    options["max_tokens"] = j.max_tokens  # None: the rubric's own limit
    judge = make_judge(base_url=j.base_url, judge_model=j.judge_model, judge_local=j.judge_local,
                       cache=JudgeCache(ptst_home() / "judge_cache.sqlite"), **options)
    return factory(judge=judge, rubric=j.rubric, progress=False)
