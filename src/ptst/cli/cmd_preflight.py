"""`ptst preflight`: does the test-time safety prompt make this model safer? Rank candidate test templates."""

from __future__ import annotations

import argparse
from pathlib import Path

from ptst.cli.console import note, out


def register(sub) -> None:
    p = sub.add_parser("preflight", help="rank candidate test templates by attack success on the base model",
                       description="For the base model, measure each candidate test template's attack success "
                       "on harmful requests and over-refusal on benign probes, and recommend the safest "
                       "acceptable one. Warns when no safety prompt beats having none.")
    p.add_argument("--model", required=True)
    p.add_argument("--templates", help="comma-separated candidates (default: chat:no-system, chat:vanilla, "
                   "chat:llama, chat:llama-short, chat:mpt, chat:mistral)")
    p.add_argument("--template-file", action="append", default=[], help="YAML file of extra templates")
    p.add_argument("--data", default="builtin:harmful", help="harmful requests (default: builtin:harmful)")
    p.add_argument("--data-file", help="local file of --data")
    p.add_argument("--limit", type=int, default=64, help="harmful requests to use (default: 64)")
    p.add_argument("--probes", default="builtin:benign-probes", help="benign probes (default: built in)")
    p.add_argument("--probes-file", help="local file of --probes")
    p.add_argument("--probes-limit", type=int, help="probes to use (default: all)")
    p.add_argument("--max-new-tokens", type=int, default=48, help="tokens per answer (default: 48)")
    p.add_argument("--max-over-refusal", type=float, default=0.25,
                   help="highest acceptable refusal rate on benign probes (default: 0.25)")
    p.add_argument("--base-url", help="rubric judge endpoint (attack success by the judge instead of keywords)")
    p.add_argument("--judge-model")
    p.add_argument("--judge-local", metavar="MODEL", help="a local rubric judge")
    p.add_argument("--out", help="run directory (default: runs/preflight-MODEL)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.study.preflight import PreflightOptions, run_preflight
    from ptst.templates import get_template, load_template_file

    for path in args.template_file:
        load_template_file(path)
    opts = PreflightOptions(model=args.model, max_new_tokens=args.max_new_tokens,
                            max_over_refusal=args.max_over_refusal,
                            harmful={"data": args.data, "data_file": args.data_file, "limit": args.limit},
                            probes={"data": args.probes, "data_file": args.probes_file, "limit": args.probes_limit})
    if args.templates:
        opts.templates = [t.strip() for t in args.templates.split(",") if t.strip()]
    for t in opts.templates:
        get_template(t)
    if args.base_url or args.judge_local:
        opts.judge = {"base_url": args.base_url, "judge_model": args.judge_model, "judge_local": args.judge_local}
    run_dir = Path(args.out or Path("runs") / f"preflight-{args.model.replace(':', '-').replace('/', '-')}")
    summary = run_preflight(opts, run_dir, progress=not args.no_progress)
    from ptst.report import write_report

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
    table.caption = (f"n = {summary['rows'][0]['n_harmful']} harmful requests, {summary['rows'][0]['n_probes']} "
                     f"benign probes; ok = over-refusal <= {100 * summary['max_over_refusal']:.0f}%; "
                     "* = recommended")
    return table
