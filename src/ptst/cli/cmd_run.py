"""`ptst run [CONFIG.yaml]`: a whole study (the main job), resumable."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from ptst.cli.checks import check_scores_complete, check_study
from ptst.cli.commands import command
from ptst.cli.console import note, out
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
    p.set_defaults(func=run)


DRY_RUN_PREFLIGHT = "chat:llama"  # what a dry run counts the pre-flight's future choice as


def default_config_path() -> Path:
    return Path(str(resources.files("ptst.study").joinpath("default.yaml")))


def run(args: argparse.Namespace) -> int:
    from ptst.cli.cmd_report import print_report
    from ptst.core.paths import check_output_dir
    from ptst.store.run_dir import OWNED as RUN_DIR_FILES
    from ptst.study import build_plan, load_study_config, run_study
    from ptst.study.config import names_preflight, with_preflight_choice

    path = Path(args.config) if args.config else default_config_path()
    cfg = load_study_config(path)
    if args.executor:
        from ptst.study.executors import executors

        cfg = cfg.model_copy(update={"executor": executors.get(args.executor).name})
    run_dir = Path(args.out or Path("runs") / cfg.name)
    check_study(cfg, str(path))  # every name a dry run or the start of a run can check, before any directory
    check_output_dir(run_dir, owned=RUN_DIR_FILES)
    if args.dry_run:
        if names_preflight(cfg):
            note(f"note: 'preflight' is resolved when the study runs; this plan counts it as {DRY_RUN_PREFLIGHT}")
            cfg = with_preflight_choice(cfg, DRY_RUN_PREFLIGHT)
        _print_plan(cfg, build_plan(cfg, offline_ok=True), run_dir)
        return 0
    with hold_run_dir(run_dir):  # one process per run directory; removed again if the run is refused at once
        note(f"study {cfg.name} ({path}) -> {run_dir}")  # only once the directory is ours: a refusal is one line
        run_study(cfg, run_dir, allow_extend=args.allow_extend, progress=not args.no_progress,
                  artifacts=args.artifacts, address=args.address)
        print_report(run_dir)
    check_scores_complete(run_dir)
    return 0


def _print_plan(cfg, plan, run_dir: Path) -> None:
    from rich.table import Table

    from ptst.models.load import pick_device
    from ptst.study.estimate import estimate_seconds

    table = Table(title=f"plan of study {cfg.name} -> {run_dir}", title_justify="left")
    for col in ("what", "count", "detail"):
        table.add_column(col)
    device = pick_device(cfg.device)
    est = estimate_seconds(cfg, plan, on_gpu=device == "cuda")
    gpu = estimate_seconds(cfg, plan, on_gpu=True)
    table.add_row("training runs", str(len(plan.trainings)),
                  ", ".join(f"{t.name} seed {t.seed}" for t in plan.trainings) or "-")
    if plan.trainings:
        table.add_row("steps per run", f"~{est['steps_per_run']}", f"{plan.train_items} training items"
                      + (f", {est['checkpoint_evals_per_run']} checkpoints evaluated" if cfg.train.eval_every_steps
                         else ""))
    table.add_row("model variants", str(len(plan.variants)), ", ".join(v.label for v in plan.variants))
    table.add_row("cells", str(len(plan.cells)),
                  f"{len(plan.variants)} variants x {len(cfg.test_templates)} test templates x {len(cfg.evals)} sets")
    table.add_row("generations", str(sum(plan.items[c.eval_set.name] for c in plan.cells)),
                  ", ".join(f"{k}: {v}" for k, v in plan.items.items()) + " per cell")
    judge = sum(plan.items[c.eval_set.name] for c in plan.cells if "rubric" in c.eval_set.scorers)
    table.add_row("judge calls", str(judge), "at most (cached replies are not repeated)")
    total = est["train_s"] + est["generate_s"]
    table.add_row("time (rough)", _hms(total), f"training {_hms(est['train_s'])}, generation "
                  f"{_hms(est['generate_s'])} on this machine ({device})"
                  + ("" if device == "cuda" else f"; about {_hms(gpu['train_s'] + gpu['generate_s'])} on one GPU"))
    out().print(table)
    for line in plan.notes:
        note(f"note: {line}")


def _hms(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
