"""results.csv (long format) and results.md (the paper's grid layout: rows training template, columns test
template, mean +- std over seeds, the base model as its own row; PTST cells and the diagonal marked)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict

from ptst.report.results import LABELS, Result, grid, primary_metrics, template_safety
from ptst.score.base import metric_info

CSV_FIELDS = ("train_template", "test_template", "seed", "step", "dataset", "role", "scorer", "metric", "value",
              "n", "low", "high", "covers", "comparison", "versus_train_template", "versus_test_template", "test",
              "p_value", "p_holm", "p_sign_flip", "per_seed")


def results_csv(results: list[Result], extra: list[dict] = ()) -> str:
    """One row per (cell, seed, metric), then the `extra` rows (intervals over seeds, differences)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n", restval="")
    writer.writeheader()
    for row in [asdict(r) for r in results] + list(extra):
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def axes(results: list[Result], cfg: dict) -> tuple[list[str], list[str]]:
    """Row labels (base first, then training templates in config order, then baselines) and column labels (test
    templates, then those only the baselines are tested with)."""
    train = cfg.get("train") or {}
    baselines = train.get("baselines") or []
    rows = (["base"] if any(r.train_template == "base" for r in results) else []) + list(train.get("templates", []))
    cols = list(cfg.get("test_templates", []))
    cols += [t for b in baselines for t in b["test_templates"]]
    cols += [t for tests in (cfg.get("row_tests") or {}).values() for t in tests]  # per-row test templates
    return rows + [b["name"] for b in baselines], list(dict.fromkeys(cols))


def cell_kind(row: str, col: str, cfg: dict | None = None) -> str:
    """'ptst' (trained without a safety prompt, tested with one), 'diagonal' (same template) or ''; `cfg` is the
    config `collect` returns, with the run's `template_safety` (without it: the built-in templates only)."""
    if row == col:
        return "diagonal"
    safety = cfg["template_safety"] if cfg and "template_safety" in cfg else template_safety({})
    if row != "base" and not safety.get(row, False) and safety.get(col, False):
        return "ptst"
    return ""


def format_cell(value: tuple, percent: bool) -> str:
    mean, std, low, high, n = value
    if math.isnan(mean):  # no sample scored: every judge call failed (or no reply could be read)
        return "failed"
    f = (lambda v: f"{100 * v:.1f}") if percent else (lambda v: f"{v:.3f}")
    return f"{f(mean)} ± {f(std)}" if std is not None else f"{f(mean)} [{f(low)}, {f(high)}]"


def is_percent(metric: str) -> bool:
    return metric_info(metric).percent


def results_markdown(results: list[Result], cfg: dict) -> str:
    rows, cols = axes(results, cfg)
    seeds = {r.seed for r in results if r.seed is not None}  # the seeds this run holds (a merge may lack some)
    lines = [f"# {cfg.get('name', 'study')}: results", "",
             f"Model `{cfg.get('model')}`. Rows: training template (`base` = before fine-tuning); columns: test "
             f"template. Cells: mean ± std over {len(seeds)} seeds" if len(seeds) > 1 else
             f"Model `{cfg.get('model')}`. Rows: training template (`base` = before fine-tuning); columns: test "
             "template. One seed: cells show the value and its 95% interval.",
             "", "**Bold**: PTST cells (trained without a safety prompt, tested with one). _Italic_: the diagonal "
             "(same template for training and testing). Percentages unless noted.", ""]
    for dataset, metric in primary_metrics(results):
        values = grid(results, dataset, metric, rows, cols)
        n = next((r.n for r in results if r.dataset == dataset and r.metric == metric), 0)
        lines += [f"## {dataset}: {LABELS.get(metric, metric)} (n={n} per cell)", "",
                  "| train \\ test | " + " | ".join(f"`{c}`" for c in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for row in rows:
            cells = []
            for col in cols:
                if (row, col) not in values:
                    cells.append("")
                    continue
                text = format_cell(values[(row, col)], is_percent(metric))
                kind = cell_kind(row, col, cfg)
                cells.append(f"**{text}**" if kind == "ptst" else f"_{text}_" if kind == "diagonal" else text)
            lines.append(f"| `{row}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def side_by_side_markdown(results: list[Result], cfg: dict) -> str:
    """One row per (training, test template) cell and one column per set, its first grid metric (task accuracy
    beside attack success and over-refusal): the trade-off plot as a table. Means only; the grids above have the
    intervals. Empty with fewer than two sets."""
    headline: dict[str, str] = {}
    for dataset, metric in primary_metrics(results):
        headline.setdefault(dataset, metric)
    if len(headline) < 2:
        return ""
    rows, cols = axes(results, cfg)
    grids = {d: grid(results, d, m, rows, cols) for d, m in headline.items()}
    lines = ["## All sets side by side", "", "Each set's first metric, cell by cell (one seed: the value; several: "
             "mean ± std over seeds). **Bold**: PTST cells; _italic_: same template.", "",
             "| train → test | " + " | ".join(f"{d}: {LABELS.get(m, m)}" for d, m in headline.items()) + " |",
             "|---|" + "---|" * len(headline)]
    for row in rows:
        for col in cols:
            if not any((row, col) in g for g in grids.values()):
                continue
            kind = cell_kind(row, col, cfg)
            name = f"`{row}` → `{col}`"
            name = f"**{name}**" if kind == "ptst" else f"_{name}_" if kind == "diagonal" else name
            lines.append(f"| {name} | " + " | ".join(_mean_text(grids[d].get((row, col)), m)
                                                    for d, m in headline.items()) + " |")
    return "\n".join(lines + ["", ""])


def _mean_text(value: tuple | None, metric: str) -> str:
    if value is None:
        return ""
    mean, std = value[0], value[1]
    if math.isnan(mean):
        return "failed"
    scale, digits = (100, 1) if is_percent(metric) else (1, 3)
    return f"{scale * mean:.{digits}f}" + (f" ± {scale * std:.{digits}f}" if std is not None else "")


def terminal_tables(results: list[Result], cfg: dict):
    """Rich tables of the primary grids, for the end of `ptst run`."""
    from rich.table import Table

    rows, cols = axes(results, cfg)
    tables = []
    for dataset, metric in primary_metrics(results):
        values = grid(results, dataset, metric, rows, cols)
        table = Table(title=f"{dataset}: {LABELS.get(metric, metric)}", title_justify="left")
        table.add_column("train \\ test", no_wrap=True)
        for col in cols:
            table.add_column(col, justify="right", no_wrap=True)
        for row in rows:
            cells = []
            for col in cols:
                text = format_cell(values[(row, col)], is_percent(metric)) if (row, col) in values else ""
                kind = cell_kind(row, col, cfg)
                cells.append(f"[bold green]{text}[/]" if kind == "ptst" else f"[italic]{text}[/]" if kind else text)
            table.add_row(row, *cells)
        tables.append(table)
    return tables


def preflight_markdown(summary: dict) -> str:
    """The pre-flight's ranking as a markdown section."""
    label = metric_info(summary["metric"]).label
    lines = ["## Pre-flight: does the safety prompt make the base model safer?", "",
             "Selection: " + summary.get("selection_rule", "the template was chosen and reported on the same "
                                         "requests (a pre-flight made before held-out selection)")
             + ". Intervals: Wilson 95% over the reported requests.", "",
             f"| # | test template | {label}, held-out | over-refusal, held-out | attack success, "
             "selection half | acceptable |", "|---|---|---|---|---|---|"]
    for k, r in enumerate(summary["rows"], 1):
        name = f"`{r['template']}`" + (" (no safety prompt)" if r["template"] == summary["baseline"] else "")
        name += " **recommended**" if r["template"] == summary["recommended"] else ""
        lines.append(f"| {k} | {name} | {100 * r['asr']:.1f} [{100 * r['asr_low']:.1f}, {100 * r['asr_high']:.1f}] "
                     f"| {100 * r['over_refusal']:.1f} [{100 * r['over_low']:.1f}, {100 * r['over_high']:.1f}] | "
                     f"{100 * r.get('asr_selection', float('nan')):.1f} | {'yes' if r['acceptable'] else 'no'} |")
    lines += ["", f"{'' if summary['protects'] else '**Warning:** '}{summary['verdict']}.", ""]
    return "\n".join(lines)
