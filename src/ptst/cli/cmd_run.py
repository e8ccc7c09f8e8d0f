"""`ptst run [CONFIG.yaml]`: a whole study (the main job), resumable."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from ptst.cli.checks import check_scores_complete, check_study, prepare_scorers
from ptst.cli.commands import command
from ptst.cli.console import note, out
from ptst.cli.run_estimates import hms, print_shard, print_shards, rates_and_workload, study_seconds
from ptst.core.errors import PtstError
from ptst.core.runlock import hold_run_dir


@command("run")
def register(sub) -> None:
    p = sub.add_parser("run", help="run a study: train x test template grid over seeds, resumable",
                       description="Run every cell of a study (the built-in default study when no config is "
                       "given), keep everything in RUN_DIR/store.sqlite, and write the report. Running the same "
                       "command again continues where a killed run stopped.")
    p.add_argument("config", nargs="?", help="study YAML (default: the built-in default study)")
    p.add_argument("--out", help="run directory (default: runs/NAME)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and a time estimate, run nothing")
    p.add_argument("--allow-extend", action="store_true", help="accept a changed config and add only new cells")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.add_argument("--executor", help="where the work runs: local, or ray (training runs, then each adapter's "
                   "evaluation, as Ray tasks; the [ray] extra); default: the config's, else local")
    p.add_argument("--address", help="ray: the cluster to join (e.g. HEAD:6379 or auto); default: a local cluster")
    p.add_argument("--artifacts", metavar="DIR", help="where training runs write adapters, a directory every node "
                   "can read (default: the run directory); give the same DIR when resuming")
    p.add_argument("--shard", metavar="K/N", help="run only shard K of N (a deterministic part of the study: whole "
                   "training runs with their cells, the base model's cells a part of their own) into its own "
                   "run directory (default: runs/NAME-shard-K-of-N); combine the shards with `ptst merge`")
    p.add_argument("--shards", type=int, metavar="N", help="with --dry-run: every shard's estimated time for N "
                   "shards")
    p.add_argument("--keep-adapters", choices=("yes", "no"), default="yes", help="no: remove the adapters' "
                   "weights once every cell has its results (the run directory keeps what the report needs)")
    p.add_argument("--calibrate", choices=("auto", "no", "again"), default="auto", help="--dry-run's estimate: "
                   "auto measures this machine once per model, dtype and batch size (cached); no: only a cached "
                   "calibration, else reference constants; again: measure anew")
    p.set_defaults(func=run)


DRY_RUN_PREFLIGHT = "chat:llama"  # what a dry run counts the pre-flight's future choice as


def default_config_path() -> Path:
    return Path(str(resources.files("ptst.study").joinpath("default.yaml")))


def run(args: argparse.Namespace) -> int:
    from ptst.cli.cmd_report import print_report
    from ptst.core.paths import check_output_dir, name_as_path
    from ptst.store.run_dir import OWNED as RUN_DIR_FILES
    from ptst.study import build_plan, load_study_config, run_study
    from ptst.study.config import names_preflight, with_compute_dtype, with_preflight_choice
    from ptst.study.run_cells import work_done
    from ptst.study.shards import Session, ShardSpec, check_count

    path = Path(args.config) if args.config else default_config_path()
    cfg = load_study_config(path)
    if args.executor:
        from ptst.study.executors import executors

        cfg = cfg.model_copy(update={"executor": executors.get(args.executor).name})
    shard = ShardSpec.parse(args.shard) if args.shard else None
    if args.shards is not None and not (args.dry_run and args.shards >= 1 and not shard):
        raise PtstError("--shards N: only with --dry-run (and without --shard), N at least 1")
    name = name_as_path(cfg.name, f"{path}: name")
    default_out = Path("runs") / (f"{name}-shard-{shard.index}-of-{shard.count}" if shard else name)
    run_dir = Path(args.out or default_out)
    check_study(cfg, str(path))  # every name a dry run or the start of a run can check, before any directory
    if shard or args.shards:
        check_count(cfg, shard.count if shard else args.shards, "--shard" if shard else "--shards")
    check_output_dir(run_dir, owned=RUN_DIR_FILES)
    if args.dry_run:
        counted = cfg
        if names_preflight(cfg):
            note(f"note: 'preflight' is resolved when the study runs; this plan counts it as {DRY_RUN_PREFLIGHT}")
            counted = with_preflight_choice(cfg, DRY_RUN_PREFLIGHT)
        counted = with_compute_dtype(counted)  # what `auto` computes in on this machine
        plan = build_plan(counted, offline_ok=True)
        rates, work, device = rates_and_workload(counted, plan, args.calibrate)
        done = work_done(plan, run_dir, args.artifacts)  # a resumed or extended run: estimate what is left
        if shard:
            print_shard(counted, plan, shard, run_dir, rates, work, done)
        elif args.shards:
            print_shards(counted, plan, args.shards, rates, work)
        else:
            _print_plan(counted, plan, run_dir, rates, work, device, done)
        return 0
    prepare_scorers(cfg, str(path))
    with hold_run_dir(run_dir):  # one process per run directory; removed again if the run is refused at once
        note(f"study {cfg.name} ({path}) -> {run_dir}" + (f", shard {shard}" if shard else ""))
        with Session(run_dir, _cached_estimate(cfg, shard) if shard else None) as session:
            run_study(cfg, run_dir, allow_extend=args.allow_extend, progress=not args.no_progress,
                      artifacts=args.artifacts, address=args.address, shard=shard,
                      keep_adapters=args.keep_adapters == "yes")
        if shard:
            note(session.summary(f"shard {shard}"))
        print_report(run_dir)
    check_scores_complete(run_dir)
    return 0


def _cached_estimate(cfg, shard) -> float | None:
    """The shard's estimated seconds from this machine's cached calibration (none is measured for a real run)."""
    from ptst.study import build_plan
    from ptst.study.calibrate import measure_workload, rates_for
    from ptst.study.config import with_compute_dtype
    from ptst.study.estimate import plan_seconds
    from ptst.study.shards import partition

    cfg = with_compute_dtype(cfg)
    rates = rates_for(cfg, "no")
    if rates is None or cfg.executor != "local":
        return None
    try:
        plan = build_plan(cfg)
    except PtstError:  # e.g. a 'preflight' template, known only once the pre-flight has run: the run says why
        return None
    return sum(plan_seconds(cfg, plan, partition(cfg, plan, shard.count)[shard.index - 1], rates,
                            measure_workload(cfg, plan)))


def _print_plan(cfg, plan, run_dir: Path, rates, work, device: str, done=None) -> None:
    from rich.table import Table

    from ptst.study.estimate import checkpoint_factor, reference_rates
    from ptst.study.plan import estimated_steps

    table = Table(title=f"plan of study {cfg.name} -> {run_dir}", title_justify="left")
    for col in ("what", "count", "detail"):
        table.add_column(col)
    train_s, gen_s = study_seconds(cfg, plan, rates, work, done)
    gpu = study_seconds(cfg, plan, reference_rates(cfg, on_gpu=True), work, done)
    table.add_row("training runs", str(len(plan.trainings)),
                  ", ".join(f"{t.name} seed {t.seed}" for t in plan.trainings) or "-")
    if plan.trainings:
        table.add_row("steps per run", f"~{estimated_steps(cfg, plan.train_items)}", f"{plan.train_items} training "
                      "items" + (f", {checkpoint_factor(cfg, plan) - 1} checkpoints evaluated"
                                 if cfg.train.eval_every_steps else ""))
    table.add_row("model variants", str(len(plan.variants)), ", ".join(v.label for v in plan.variants))
    pairs = len({(c.variant.id, c.test_template) for c in plan.cells})
    shape = (f"{len(plan.variants)} variants x {len(cfg.test_templates)} test templates"
             if pairs == len(plan.variants) * len(cfg.test_templates) else f"{pairs} variant x test template pairs")
    table.add_row("cells", str(len(plan.cells)), f"{shape} x {len(cfg.evals)} sets")
    table.add_row("generations", str(sum(plan.items[c.eval_set.name] for c in plan.cells)),
                  ", ".join(f"{k}: {v}" for k, v in plan.items.items()) + " per cell")
    from ptst.score.base import needs_judge

    judge = sum(plan.items[c.eval_set.name] * sum(needs_judge(s) for s in c.eval_set.scorers) for c in plan.cells)
    table.add_row("judge calls", str(judge), "at most (cached replies are not repeated)")
    if done is not None:
        generations = sum(plan.items[c.eval_set.name] for c in plan.cells)
        held = sum(min(done.samples.get(c.id, 0), plan.items[c.eval_set.name]) for c in plan.cells)
        trained = sum(t.id in done.trained for t in plan.trainings)
        table.add_row("already done", f"{held / generations:.0%}", f"{run_dir} holds {held:,} of {generations:,} "
                      f"generations and {trained} of {len(plan.trainings)} training runs; the time below is what is "
                      f"left (the whole study: {hms(sum(study_seconds(cfg, plan, rates, work)))})")
    table.add_row("time (estimate)", hms(train_s + gen_s), f"training {hms(train_s)}, generation "
                  f"{hms(gen_s)} on this machine ({device})"
                  + ("" if device == "cuda" else f"; about {hms(sum(gpu))} on one GPU (reference constants)"))
    out().print(table)
    for line in plan.notes:
        note(f"note: {line}")
