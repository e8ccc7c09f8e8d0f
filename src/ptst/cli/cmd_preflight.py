"""`ptst preflight`: does the test-time safety prompt make this model safer? Rank candidate test templates."""

from __future__ import annotations

import argparse

from ptst.cli.commands import command
from ptst.cli.console import note, out
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
    out().print(preflight_table(summary))
    line = summary["verdict"]
    out().print(f"[bold {'green' if summary['protects'] else 'red'}]{'' if summary['protects'] else 'WARNING: '}"
                f"{line}[/]")
    note(f"pre-flight results in {run_dir} (preflight.json, report.html)")
    return 0


def preflight_table(summary: dict):
    from rich.table import Table

    metric = "rubric" if summary["metric"] == "asr_rubric" else "keywords"
    table = Table(title=f"pre-flight of {summary['model']}, safest first (95% intervals)", title_justify="left")
    for col in ("#", "test template", f"attack success ({metric})", "over-refusal", "ok"):
        table.add_column(col, justify="left" if col == "test template" else "right", no_wrap=True)

    def pct(v, lo, hi):
        return f"{100 * v:.0f}% [{100 * lo:.0f}-{100 * hi:.0f}]"

    for k, r in enumerate(summary["rows"], 1):
        name = r["template"] + (" (none)" if r["template"] == summary["baseline"] else "")
        name += " *" if r["template"] == summary["recommended"] else ""
        table.add_row(str(k), name, pct(r["asr"], r["asr_low"], r["asr_high"]),
                      pct(r["over_refusal"], r["over_low"], r["over_high"]), "yes" if r["acceptable"] else "no")
    first = summary["rows"][0]
    table.caption = (f"ranked and chosen on a selection half ({first.get('n_harmful_selection', '?')} harmful "
                     f"requests, {first.get('n_probes_selection', '?')} probes); numbers from the held-out half "
                     f"(n = {first['n_harmful']} harmful requests, {first['n_probes']} benign probes); ok = "
                     f"over-refusal <= {100 * summary['max_over_refusal']:.0f}% on the selection half; "
                     "* = recommended")
    return table
