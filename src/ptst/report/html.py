"""report.html: one self-contained page (pictures inlined, nothing loaded from the network) with the tables, plots
and the sample browser (`ptst.report.browser`)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ptst.core.io import atomic_write_text
from ptst.report.browser import csp
from ptst.report.panel import panel_html
from ptst.report.results import LABELS, Result, grid, primary_metrics
from ptst.report.tables import axes, cell_kind, format_cell, is_percent

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.4em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.ptst{background:#dbeafe;font-weight:bold}
.diagonal{font-style:italic;background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
details{margin:.3em 0 .8em}pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:.5em;
font-size:.85em}code{background:#f4f4f4;padding:0 .2em}.muted{color:#666;font-size:.9em}
.tabs{margin:.6em 0}.tab{border:1px solid #ccc;background:#f4f4f4;padding:.3em .8em;cursor:pointer}
.tab.active{background:#dbeafe;font-weight:bold}.controls label{margin-right:.8em}select{max-width:100%}
.sample,.flip{border:1px solid #ddd;border-radius:4px;padding:.4em .8em;margin:.6em 0}.label{color:#666;
font-size:.8em;margin-top:.3em}.verdict{display:inline-block;background:#eef;border:1px solid #ccd;
border-radius:3px;padding:0 .4em;margin:.1em .3em .1em 0;font-size:.85em}.verdict-details{font-size:.8em;
color:#555;margin:.2em 0;padding-left:1.2em}.pair{display:flex;gap:1em}.side{flex:1;min-width:0}
.side h4{margin:.4em 0;font-size:.9em}.pager button{margin:0 .3em}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _grid_table(results: list[Result], cfg: dict, dataset: str, metric: str) -> str:
    rows, cols = axes(results, cfg)
    values = grid(results, dataset, metric, rows, cols)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for row in rows:
        tds = []
        for col in cols:
            text = format_cell(values[(row, col)], is_percent(metric)) if (row, col) in values else ""
            tds.append(f'<td class="{cell_kind(row, col, cfg)}">{html.escape(text)}</td>')
        body.append(f"<tr><td>{html.escape(row)}</td>{''.join(tds)}</tr>")
    title = f"{dataset}: {LABELS.get(metric, metric)}" + (" (%)" if is_percent(metric) else "")
    return f"<h3>{html.escape(title)}</h3><table><tr><th>train \\ test</th>{head}</tr>{''.join(body)}</table>"


def _preflight_table(summary: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['template'])}{' (recommended)' if r['template'] == summary['recommended'] else ''}"
        f"</td><td>{100 * r['asr']:.1f} [{100 * r['asr_low']:.1f}, {100 * r['asr_high']:.1f}]</td>"
        f"<td>{100 * r['over_refusal']:.1f} [{100 * r['over_low']:.1f}, {100 * r['over_high']:.1f}]</td>"
        f"<td>{'yes' if r['acceptable'] else 'no'}</td></tr>" for r in summary["rows"])
    return (f"<h3>Pre-flight: candidate test templates on the base model (%)</h3><table><tr><th>template</th>"
            f"<th>attack success</th><th>over-refusal</th><th>acceptable</th></tr>{rows}</table>"
            f"<p><b>{html.escape(summary['verdict'])}</b></p>"
            f"<p class=\"muted\">Selection: {html.escape(summary.get('selection_rule', 'on the reported requests'))}"
            "</p>")


def _statistics(markdown: str) -> str:
    """results.md's statistics section (what each interval covers, the highlighted paired differences), as
    HTML; the markdown renderer escapes any HTML inside template names."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown) if markdown.strip() else ""


def write_html(run_dir: Path, results: list[Result], cfg: dict, pictures: list[Path], manifest: dict,
               *, preflight: dict | None = None, statistics: str = "", samples: tuple[str, str] = ("", "")) -> Path:
    """`samples`: the sample browser's page section and its script (`ptst.report.browser.browser_html`)."""
    tables = "".join(_grid_table(results, cfg, d, m) for d, m in primary_metrics(results))
    tables += panel_html(results, cfg)
    tables += _statistics(statistics)
    if preflight:
        tables += _preflight_table(preflight)
    figs = "".join(_img(p) for p in pictures)
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(cfg.get('name', 'study'))}</title>
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp(samples[1]))}">
<style>{STYLE}</style></head><body>
<h1>{html.escape(cfg.get('name', 'study'))}</h1>
<p>Model <code>{html.escape(str(cfg.get('model')))}</code>. Rows: training template (<code>base</code> = before
fine-tuning). Columns: test template. <span class="ptst">Blue</span>: PTST cells (trained without a safety prompt,
tested with one); <span class="diagonal">grey italic</span>: same template for training and testing.
One seed: value [95% interval]; several seeds: mean ± std. What each interval covers (requests or seeds) and
the paired tests follow the tables.</p>
{tables}<h2>Pictures</h2>{figs}{samples[0]}
<h2>Provenance</h2><p class="muted">{html.escape(versions)}<br>
machine: {html.escape(json.dumps(manifest.get('machine', {})))}
<br>started {html.escape(str(manifest.get('started')))}; full config in manifest.json</p>
{f"<script>{samples[1]}</script>" if samples[1] else ""}</body></html>"""
    path = run_dir / "report.html"
    atomic_write_text(path, page)
    return path
