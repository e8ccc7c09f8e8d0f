"""`ptst report RUN_DIR`: rewrite a run's tables, plots and report.html from the run directory alone."""

from __future__ import annotations

import argparse
from pathlib import Path

from ptst.cli.commands import command
from ptst.cli.console import note, out


@command("report")
def register(sub) -> None:
    r = sub.add_parser("report", help="(re)write the tables, plots and report.html of a run directory",
                       description="Rebuild results.csv, results.md, the pictures and report.html from what the run "
                       "directory holds (its store keeps the config and every template's definition).")
    r.add_argument("run_dir", help="a `ptst run` directory")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print_report(Path(args.run_dir))
    return 0


def print_report(run_dir: Path) -> None:
    """Write the report files and print the main tables."""
    from ptst.report import terminal_tables, write_report

    written = write_report(run_dir)
    for table in terminal_tables(written["results"], written["config"]):
        out().print(table)
    note("bold green: PTST cells (trained without a safety prompt, tested with one); italic: same template")
    if written["absent"]:
        from ptst.report.absent import describe

        shown = "; ".join(describe(c) for c in written["absent"][:6])
        more = f"; and {len(written['absent']) - 6} more" if len(written["absent"]) > 6 else ""
        note(f"absent: {len(written['absent'])} of {written['study_cells']} cells of the study are not in this run "
             f"directory ({shown}{more}); results.md lists them")
    note(f"report: {run_dir / 'report.html'} (also results.md, results.csv, "
         f"{len(written['files']) - 3} pictures)")
