"""Reports of a run directory: results.csv, results.md, heatmaps, trade-off and trajectory plots, report.html.
Reads the store only."""

from __future__ import annotations

from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import atomic_write_text
from ptst.report.absent import absent_cells, absent_markdown
from ptst.report.intervals import highlighted_pairs, request_outcomes, study_statistics
from ptst.report.results import Result, collect
from ptst.report.tables import (
    axes,
    cell_kind,
    preflight_markdown,
    results_csv,
    results_markdown,
    side_by_side_markdown,
    terminal_tables,
)
from ptst.store.records import PreflightSummary, read_run_file
from ptst.store.run_dir import RunDir


def write_report(run_dir: str | Path, *, sample_budget: int | None = None) -> dict:
    """Write every report file into `run_dir`; returns their paths and the results. `sample_budget`: the most
    characters of sample JSON report.html embeds (default `browser.BUDGET_CHARS`); the rest goes to
    report-samples.jsonl beside it."""
    from ptst.report.browser import BUDGET_CHARS, OVERFLOW_FILE, browser_html
    from ptst.report.html import write_html
    from ptst.report.plots import heatmaps, tradeoff, trajectory

    run = RunDir(run_dir)
    run_dir = run.path
    if not run.has_store():
        raise PtstError(f"{run_dir}: no {run.store_path.name} here; is it a `ptst run` directory?")
    run.check_intact()  # a damaged run directory is refused before any report file is written
    results, cfg = collect(run_dir)
    preflight = _preflight(run_dir)
    baselines = {b["name"]: b.get("reference_test") or b["template"]
                 for b in (cfg.get("train") or {}).get("baselines") or []}
    outcomes = request_outcomes(run_dir, results)
    pairs = highlighted_pairs(outcomes, results, lambda r, c: cell_kind(r, c, cfg) == "ptst", baselines)
    extra_rows, statistics = study_statistics(outcomes, results, pairs, cfg.get("primary") or [])
    atomic_write_text(run_dir / "results.csv", results_csv(results, extra_rows))
    absent, study_cells = absent_cells(run_dir)
    side_by_side = side_by_side_markdown(results, cfg)
    atomic_write_text(run_dir / "results.md", results_markdown(results, cfg) + "\n" + side_by_side + statistics
                      + ("\n" + preflight_markdown(preflight) if preflight else "")
                      + ("\n" + absent_markdown(absent, study_cells) if absent else ""))
    pictures = heatmaps(results, cfg, run_dir)
    pictures += [p for p in (tradeoff(results, cfg, run_dir), trajectory(results, cfg, run_dir)) if p]
    samples = browser_html(run_dir, cfg, axes(results, cfg), outcomes, pairs, budget=sample_budget or BUDGET_CHARS)
    html_path = write_html(run_dir, results, cfg, pictures, run.load_manifest(), preflight=preflight,
                           statistics=side_by_side + statistics, samples=samples)
    overflow = [run_dir / OVERFLOW_FILE] if (run_dir / OVERFLOW_FILE).is_file() else []
    return {"results": results, "config": cfg, "absent": absent, "study_cells": study_cells,
            "files": [run_dir / "results.csv", run_dir / "results.md", *pictures, html_path, *overflow]}


def _preflight(run_dir: Path) -> dict | None:
    for path in (run_dir / "preflight" / "preflight.json", run_dir / "preflight.json"):
        if path.is_file():
            return read_run_file(path, PreflightSummary, "pre-flight summary")
    return None


__all__ = ["Result", "collect", "terminal_tables", "write_report"]
