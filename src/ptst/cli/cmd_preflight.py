"""`ptst preflight`: does the test-time safety prompt make this model safer? Rank candidate test templates."""

from __future__ import annotations

import argparse

from ptst.cli.commands import command
from ptst.cli.console import note, out, print_table
from ptst.cli.options import add_config_options, resolve_config


@command("preflight")
def register(sub) -> None:
    from ptst.study.preflight import PreflightOptions

    p = sub.add_parser("preflight", help="rank candidate test templates by attack success on the base model",
                       description="For the base model, measure each candidate test template's attack success "
                       "on harmful requests and over-refusal on benign probes, and recommend the safest "
                       "acceptable one. Warns when no safety prompt beats having none.")
    add_config_options(p, PreflightOptions)
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.core.paths import check_output_dir
    from ptst.report import write_report
    from ptst.study.plan import resolve_templates
    from ptst.study.preflight import PreflightOptions, preflight_config, run_preflight

    opts = resolve_config(PreflightOptions, args)
    resolve_templates(preflight_config(opts))  # unknown templates fail before any model is loaded
    run_dir = opts.run_dir()
    check_output_dir(run_dir, owned=("preflight.json", "store.sqlite"))
    summary = run_preflight(opts, run_dir, progress=not args.no_progress)
    write_report(run_dir)
    print_table(preflight_table(summary))
    line = summary["verdict"]
    out().print(f"[bold {'green' if summary['protects'] else 'red'}]{'' if summary['protects'] else 'WARNING: '}"
                f"{line}[/]")
    note(f"pre-flight results in {run_dir} (preflight.json, report.html)")
    return 0


def preflight_table(summary: dict):
    """The ranking as it was made: the rank and the selection half's numbers first, the held-out half's estimates
    beside them, each column naming its half (the held-out numbers need not be in rank order)."""
    from rich.table import Table

    from ptst.score.base import metric_info

    label = metric_info(summary["metric"]).label
    table = Table(title=f"pre-flight of {summary['model']}: ranked on the selection half, estimated on the held-out "
                  "half", title_justify="left")
    columns = ("rank", "test template", f"{label}, selection", "over-refusal, selection", "ok",
               "attack success, held-out [95%]", "over-refusal, held-out [95%]")
    for col in columns:
        table.add_column(col, justify="left" if col == "test template" else "right", no_wrap=True)

    def pct(v, lo=None, hi=None):
        return f"{100 * v:.0f}%" + ("" if lo is None else f" [{100 * lo:.0f}-{100 * hi:.0f}]")

    for k, r in enumerate(summary["rows"], 1):
        name = r["template"] + (" (none)" if r["template"] == summary["baseline"] else "")
        name += " *" if r["template"] == summary["recommended"] else ""
        table.add_row(str(k), name, pct(r["asr_selection"]), pct(r["over_refusal_selection"]),
                      "yes" if r["acceptable"] else "no", pct(r["asr"], r["asr_low"], r["asr_high"]),
                      pct(r["over_refusal"], r["over_low"], r["over_high"]))
    first = summary["rows"][0]
    table.caption = (f"rank: on the selection half ({first['n_harmful_selection']} harmful requests, "
                     f"{first['n_probes_selection']} probes), lowest attack success first among the templates whose "
                     f"over-refusal there is <= {100 * summary['max_over_refusal']:.0f}% (ok), then the others. "
                     f"held-out: the other half ({first['n_harmful']} harmful requests, {first['n_probes']} probes), "
                     "not used in choosing, so its numbers are the unbiased estimates, with Wilson 95% intervals. "
                     f"* = recommended: {summary.get('recommend_rule', '')}")
    return table
