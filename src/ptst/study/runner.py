"""Run a study: train every (template, seed), evaluate every cell, and keep it all in the store.

Work is skipped when the store says it is done, so running the same command again after a kill continues where
it stopped. The pieces: `open_run` (plan, config check, manifest, registration), `training`, `evaluate` (generate
and score, through `ptst.generate.cells`), `executors` (where evaluation runs) and `preflight`.
"""

from __future__ import annotations

from pathlib import Path

from ptst.core.console import note
from ptst.models.engines import engines
from ptst.store.run_dir import RunDir
from ptst.study.config import StudyConfig, names_preflight, with_compute_dtype, with_preflight_choice
from ptst.study.evaluate import EvalContext, VariantCells
from ptst.study.executors import executors
from ptst.study.open_run import open_run, register_cells
from ptst.study.plan import Plan, cells_for
from ptst.study.preflight import PreflightOptions, run_preflight
from ptst.study.run_cells import evaluation_tasks, study_progress
from ptst.study.shards import ShardSpec
from ptst.study.strip import strip_run
from ptst.study.training import adapter_path, checkpoint_variants, ensure_trained, needs_training


def run_study(cfg: StudyConfig, run_dir: str | Path, *, allow_extend: bool = False, progress: bool = True,
              artifacts: str | Path | None = None, address: str | None = None, shard: ShardSpec | None = None,
              keep_adapters: bool = True) -> Plan:
    """Train and evaluate every cell; `artifacts`: where adapters are written (default: the run directory);
    `address`: the cluster of an executor that uses one; `shard`: only that part of the study
    (`ptst.study.shards`); `keep_adapters` False: remove the adapters' weights once every cell has its results."""
    run_dir, cfg = Path(run_dir), with_compute_dtype(cfg)
    engine, executor = engines.get(cfg.engine), executors.get(cfg.executor)
    engine.check()  # before hours of training, not after
    executor.check()
    cfg = resolve_preflight(cfg, run_dir, progress=progress)
    plan, store = open_run(cfg, run_dir, allow_extend=allow_extend, shard=shard)
    step_units = cfg.train.hyper.batch_size if cfg.train else 0
    to_train = [t for t in plan.trainings if needs_training(store, RunDir(Path(artifacts or run_dir)), t)]
    with study_progress(cfg, plan, store, to_train, run_dir, progress) as bar:
        ctx = EvalContext(cfg, run_dir, store, plan, engine, bar, artifacts=artifacts, address=address)
        executor.train(plan.trainings, ctx)
        out, pending = RunDir(ctx.artifacts), []
        for variant in plan.variants:
            if variant.training is not None:
                ensure_trained(cfg, store, out, variant.training, bar, step_units)
                for ckpt in checkpoint_variants(store, out, variant.training):
                    cells = cells_for(cfg, ckpt, plan.templates)
                    register_cells(store, cells, plan)
                    pending.append(VariantCells(ckpt, cells, adapter_path(out, ckpt)))
            pending.append(VariantCells(variant, plan.cells_of(variant), adapter_path(out, variant)))
            if not (engine.per_request_adapters or executor.trains_ahead):  # evaluate each model once trained;
                # vLLM takes every variant at once, and an executor that trained ahead spreads them out at once
                executor.run(evaluation_tasks(pending, engine), ctx)
                pending = []
        executor.run(evaluation_tasks(pending, engine), ctx)
    store.close()
    if not keep_adapters:
        strip_run(run_dir, ctx.artifacts, [t.dirname for t in plan.trainings])
    return plan


def resolve_preflight(cfg: StudyConfig, run_dir: Path, *, progress: bool = True) -> StudyConfig:
    """Replace the placeholder `preflight` in the template lists by the pre-flight's recommendation (run, or
    resumed, in RUN_DIR/preflight). Without a recommendation the safest acceptable candidate is used, with the
    pre-flight's warning."""
    if not names_preflight(cfg):
        return cfg
    summary = run_preflight(PreflightOptions(model=cfg.model, batch_size=cfg.batch_size, dtype=cfg.dtype,
                                             device=cfg.device), run_dir / "preflight", progress=progress)
    chosen = summary["recommended"] or summary["rows"][0]["template"]
    if not summary["protects"]:
        note(f"ptst: WARNING: {summary['verdict']}; using {chosen}")
    return with_preflight_choice(cfg, chosen)
