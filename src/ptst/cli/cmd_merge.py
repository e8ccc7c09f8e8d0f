"""`ptst merge DIR... --into DIR`: combine the shards of a study (`ptst run --shard K/N`) into one run directory."""

from __future__ import annotations

import argparse

from ptst.cli.commands import command
from ptst.cli.console import note, out


@command("merge")
def register(sub) -> None:
    p = sub.add_parser("merge", help="combine the shards of a study into one run directory",
                       description="Combine run directories of one study (the shards of `ptst run --shard K/N`, "
                       "stripped or not, or earlier merges) into a new run directory that `ptst report` reads as "
                       "any other. Refused, before anything is written: runs of different configs or of code "
                       "versions that change results, and two inputs holding different results for one cell. The "
                       "inputs are never modified; the same shard given twice is merged once.")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directories of the study")
    p.add_argument("--into", required=True, metavar="DIR", help="the merged run directory (new or empty)")
    p.add_argument("--require-complete", action="store_true", help="refuse (exit 2) when any cell of the study "
                   "is absent, naming them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.cli.run_estimates import hms
    from ptst.study.merge import describe_absent, merge_runs

    merged = merge_runs(args.dirs, args.into, require_complete=args.require_complete)
    note(f"merged {len(merged.sources)} run directories into {merged.into}: {merged.cells} cells, "
         f"{merged.trainings} training runs")
    for name, measured, estimate in merged.timings:
        if measured is None:
            continue
        error = f", estimated {hms(estimate)} (took {measured / estimate:.2f}x that)" if estimate else ""
        out().print(f"  {name}: ran {hms(measured)}{error}")
    if merged.absent:
        note(f"{len(merged.absent)} of {merged.expected} cells of the study are absent (the report lists them):")
        for cell in merged.absent[:20]:
            note(f"  {describe_absent(cell)}")
        if len(merged.absent) > 20:
            note(f"  and {len(merged.absent) - 20} more")
    note(f"report: ptst report {merged.into}")
    return 0
