"""`ptst generate`: one JSONL row per sample, resumable."""

from __future__ import annotations

import argparse

from ptst.cli.checks import check_generate
from ptst.cli.commands import command
from ptst.cli.console import note
from ptst.cli.options import add_config_options, resolve_config


@command("generate")
def register(sub) -> None:
    from ptst.generate.config import GenerateConfig

    parser = sub.add_parser("generate", help="generate responses for a data set under a test template",
                            description="Generate for every item (greedy by default) and append one JSONL row "
                            "per sample: the exact rendered prompt, output, template, model, adapter and decoding. "
                            "Re-running the same command skips the ids already written.")
    add_config_options(parser, GenerateConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.generate import GenerateConfig, run_generation

    cfg = resolve_config(GenerateConfig, args)
    check_generate(cfg)  # names, adapter and --out, before a model is loaded
    result = run_generation(cfg)
    if result["written"] == 0:
        note(f"nothing to do: all {result['skipped']} samples are already in {cfg.out}")
    else:
        note(f"wrote {result['written']} samples to {cfg.out} ({result['skipped']} already there), "
             f"{result['tokens_per_s']:.1f} generated tok/s")
    return 0
