"""`ptst run --dry-run`'s time estimates: this machine's calibrated rates (or the reference constants) times the
study's own token counts, for the whole study, one shard (`--shard K/N`, with its cells) or every shard
(`--shards N`)."""

from __future__ import annotations

from pathlib import Path

from ptst.cli.console import note, out


def rates_and_workload(cfg, plan, mode: str):
    """(rates, workload, device) for the study on this machine; says which rates it used."""
    from ptst.models.load import pick_device
    from ptst.study.calibrate import measure_workload, rates_for
    from ptst.study.estimate import Workload, reference_rates

    device = pick_device(cfg.device)
    rates = rates_for(cfg, mode, log=lambda message: note(f"note: {message}"))
    if rates is None:
        rates = reference_rates(cfg, on_gpu=device == "cuda")
        if mode == "no":
            note("note: no calibration of this study's model on this machine is cached (--calibrate auto measures "
                 "one)")
    local = mode != "no" or _model_here(cfg.model)
    work = measure_workload(cfg, plan, log=lambda message: note(f"note: {message}")) if local else Workload()
    note(f"time estimate: {rates.source}")
    return rates, work, device


def _model_here(ref: str) -> bool:
    """Whether the model's tokenizer can be read without downloading anything."""
    if ref.startswith("embedded:"):
        from ptst.models.embedded import embedded

        return ref in embedded and embedded.get(ref).is_prepared()
    return Path(ref).is_dir()


def study_seconds(cfg, plan, rates, work, done=None) -> tuple[float, float]:
    """(training, generation) seconds of the whole study, or of what is left of it after DONE."""
    from ptst.study.estimate import plan_seconds
    from ptst.study.shards import study_parts

    return plan_seconds(cfg, plan, study_parts(plan), rates, work, done)


def print_shard(cfg, plan, shard, run_dir: Path, rates, work, done=None) -> None:
    """One shard's parts, cells and estimated time (with DONE, of what its directory still lacks)."""
    from rich.table import Table

    from ptst.study.estimate import part_seconds
    from ptst.study.shards import partition

    parts = partition(cfg, plan, shard.count)[shard.index - 1]
    table = Table(title=f"shard {shard} of study {cfg.name} -> {run_dir}", title_justify="left")
    for col in ("part", "model", "test template", "set", "items", "estimate"):
        table.add_column(col)
    total = 0.0
    for part in parts:
        train_s, gen_s = part_seconds(cfg, plan, part, rates, work, done)
        total += train_s + gen_s
        what = "training run" if part.training else "base model"
        table.add_row(f"{what} {part.label}", "", "", "", "", f"{hms(train_s + gen_s)} (training {hms(train_s)})"
                      if part.training else hms(gen_s))
        for cell in part.cells:
            table.add_row("", cell.variant.label, cell.test_template, cell.eval_set.name,
                          str(plan.items[cell.eval_set.name]), "")
    out().print(table)
    cells = sum(len(p.cells) for p in parts)
    left = "" if done is None else f" for what {run_dir} still lacks"
    out().print(f"shard {shard}: {len(parts)} part{'' if len(parts) == 1 else 's'}, {cells} cells, time (estimate)"
                f"{left} {hms(total)}")


def print_shards(cfg, plan, count: int, rates, work) -> None:
    """Every shard's estimate, to pick N against a wall-time limit."""
    from rich.table import Table

    from ptst.study.estimate import plan_seconds
    from ptst.study.shards import partition

    shards = partition(cfg, plan, count, flag="--shards")
    table = Table(title=f"study {cfg.name} in {count} shards", title_justify="left")
    for col in ("shard", "parts", "cells", "training", "generation", "time (estimate)"):
        table.add_column(col)
    longest = 0.0
    for k, parts in enumerate(shards, 1):
        train_s, gen_s = plan_seconds(cfg, plan, parts, rates, work)
        longest = max(longest, train_s + gen_s)
        table.add_row(f"{k}/{count}", ", ".join(p.label for p in parts), str(sum(len(p.cells) for p in parts)),
                      hms(train_s), hms(gen_s), hms(train_s + gen_s))
    out().print(table)
    out().print(f"longest shard: {hms(longest)} (each shard: ptst run CONFIG --shard K/{count})")


def hms(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
