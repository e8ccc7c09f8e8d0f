"""The judge panel in report.html: where a data set is scored by several judges (scorers that declare an
attack-success rate: keyword lists, the rubric, StrongREJECT, guard models), each judge's attack success per cell,
side by side, with its Wilson 95% interval over the cell's requests; a cell where two judges' intervals do not
overlap is marked: there the judges disagree by more than sampling explains, and the choice of judge decides the
number. Final models only, one row per cell and seed."""

from __future__ import annotations

import html
from itertools import combinations

from ptst.report.results import LABELS, Result
from ptst.report.tables import axes
from ptst.score.base import attack_success_metric

STYLE = ".disagree{background:#fde2e2}.disagree td:first-child::after{content:' \\2260';color:#b91c1c}"


def panel_judges(results: list[Result]) -> dict[str, list[tuple[str, str]]]:
    """Data set -> [(scorer, its attack-success metric)] for data sets with two or more such judges."""
    found: dict[str, list[tuple[str, str]]] = {}
    for r in results:
        metric = attack_success_metric(r.scorer)
        if metric == r.metric and (r.scorer, metric) not in found.setdefault(r.dataset, []):
            found[r.dataset].append((r.scorer, metric))
    return {d: judges for d, judges in found.items() if len(judges) >= 2}


def disagree(cells: list[Result | None]) -> bool:
    """Two judges' intervals that do not overlap."""
    shown = [c for c in cells if c is not None and c.n]
    return any(a.high < b.low or b.high < a.low for a, b in combinations(shown, 2))


def panel_rows(results: list[Result], dataset: str, judges: list[tuple[str, str]], cfg: dict):
    """(row label, [Result or None per judge]) per final cell and seed, in the grid's order."""
    rows, cols = axes(results, cfg)
    by_key = {(r.train_template, r.test_template, r.seed, r.scorer): r for r in results
              if r.dataset == dataset and r.step is None and (r.scorer, r.metric) in judges}
    seeds = sorted({k[2] for k in by_key}, key=lambda s: (s is None, s))
    out = []
    for row in rows:
        for col in cols:
            for seed in seeds:
                cells = [by_key.get((row, col, seed, scorer)) for scorer, _ in judges]
                if any(cells):
                    label = f"{row} → {col}" + (f" (seed {seed})" if len(seeds) > 1 else "")
                    out.append((label, cells))
    return out


def _cell(r: Result | None) -> str:
    if r is None:
        return ""
    if r.n == 0 or r.value != r.value:  # failed: no sample scored
        return "failed"
    return f"{100 * r.value:.1f} [{100 * r.low:.1f}, {100 * r.high:.1f}] n={r.n}"


def panel_html(results: list[Result], cfg: dict) -> str:
    """The panel section (empty when no data set has two judges)."""
    sections = []
    for dataset, judges in panel_judges(results).items():
        head = "".join(f"<th>{html.escape(scorer)}<br><span class='muted'>{html.escape(LABELS[metric])}</span></th>"
                       for scorer, metric in judges)
        body, marked = [], 0
        for label, cells in panel_rows(results, dataset, judges, cfg):
            split = disagree(cells)
            marked += split
            tds = "".join(f"<td>{html.escape(_cell(c))}</td>" for c in cells)
            mark = ' class="disagree"' if split else ""
            body.append(f"<tr{mark}><td>{html.escape(label)}</td>{tds}</tr>")
        sections.append(f"<h3>{html.escape(dataset)}: attack success by judge (%)</h3><table><tr><th>cell (train → "
                        f"test)</th>{head}</tr>{''.join(body)}</table><p class='muted'>{marked} of {len(body)} cells "
                        "marked ≠: two judges' 95% Wilson intervals (request-level) do not overlap.</p>")
    if not sections:
        return ""
    return (f"<style>{STYLE}</style><h2>Judge panel</h2><p>Each judge's own attack-success rate (its definition under "
            "its name) on the same responses. Compare the judges pairwise on the same samples with <code>ptst audit "
            "agreement RUN_DIR</code> (agreement and Cohen's kappa).</p>" + "".join(sections))
