"""`ptst train`: fine-tune with the loss on the response only."""

from __future__ import annotations

import argparse

from ptst.cli.commands import command
from ptst.cli.console import note, write_raw
from ptst.cli.options import add_config_options, resolve_config
from ptst.core.runlock import hold_run_dir


@command("train")
def register(sub) -> None:
    from ptst.store.training_dir import RECORD
    from ptst.train.config import TrainConfig

    parser = sub.add_parser("train", help="fine-tune a model (LoRA or full) under a training template",
                            description="Fine-tune on task data rendered with a training template. The prompt is "
                            "exactly what generation will see; the loss is on the reference answer and the "
                            f"end-of-turn token only. Writes a standard HF/PEFT directory and {RECORD}.")
    add_config_options(parser, TrainConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.core.paths import check_output_dir
    from ptst.store.training_dir import OWNED
    from ptst.train import TrainConfig, run_training

    cfg = resolve_config(TrainConfig, args)
    check_output_dir(cfg.out, owned=OWNED)  # never into a directory of someone else's files
    with hold_run_dir(cfg.out, enabled=not cfg.dry_run):
        record = run_training(cfg, log=note)
    if record.get("dry_run"):
        write_raw("\n\n".join(record["audits"]) + "\n")
        return 0
    if not record["main_process"]:
        return 0
    note(f"trained {record['kind']} for {record['steps']} steps on {record['data']['examples']} examples; "
         f"{loss_summary(record)}; saved to {cfg.out}")
    return 0


def loss_summary(record: dict) -> str:
    """The logged loss as it was: first and last logged steps named (one logged point is not a flat curve), and
    the mean over every step of this run."""
    curve, mean = record["loss_curve"], f"mean {record['train_loss']:.3f} over the run's steps"
    if not curve:
        return f"loss not logged ({mean})"
    first, last = curve[0], curve[-1]
    if len(curve) == 1:
        return f"loss {first['loss']:.3f} at step {first['step']}, the only step logged ({mean})"
    return f"loss {first['loss']:.3f} at step {first['step']} -> {last['loss']:.3f} at step {last['step']} ({mean})"
