"""The sample browser of report.html: every response of the final models with its rendered prompt and verdicts,
filterable by verdict, and for each highlighted comparison the requests whose outcome differs between its two
cells, both responses side by side.

Every character a model or a data set wrote is data, never markup: the samples travel as JSON in a
`<script type="application/json">` block (with `<`, `>` and `&` escaped, so no text can close it), the page's
script builds elements with `textContent` only, and the page's Content-Security-Policy lets only its own script
run and nothing load from the network. The script renders one page of rows at a time, so a study of tens of
thousands of samples opens at once. Past `BUDGET_CHARS` of sample JSON the requests of the highlighted
differences are kept first (within half the budget), then the first samples of every cell in equal numbers, and
the rest is written to `report-samples.jsonl` beside the page (linked from it)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ptst.core.io import atomic_write_text
from ptst.report.intervals import CellKey, Outcomes, differing_requests
from ptst.report.results import LABELS
from ptst.report.tables import cell_kind, is_percent
from ptst.report.verdicts import verdicts
from ptst.store.study_store import StudyStore

BUDGET_CHARS = 48_000_000  # sample JSON embedded in the page; about 20,000 samples of 300-token replies
OVERFLOW_FILE = "report-samples.jsonl"
PAGE_ROWS = 50
FINISH = "finish"  # the pseudo-column of how a reply ended (stop | length), filterable like a verdict


@dataclass
class BrowserData:
    cells: list[dict] = field(default_factory=list)
    prompts: list[list[str]] = field(default_factory=list)  # [text before the input, text after it]
    samples: list[list] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    rows: list[tuple[dict, dict]] = field(default_factory=list)  # (cell, stored row) per sample, for the JSONL
    comparisons: list[dict] = field(default_factory=list)
    _prompt_index: dict[tuple[str, str], int] = field(default_factory=dict)

    def prompt_ref(self, prompt: str, text: str) -> int | str:
        """The prompt as [before, after] its input, shared by every sample of the same template; the prompt
        itself when the input is not in it."""
        at = prompt.rfind(text) if text else -1
        if at < 0:
            return prompt
        key = (prompt[:at], prompt[at + len(text):])
        if key not in self._prompt_index:
            self._prompt_index[key] = len(self.prompts)
            self.prompts.append(list(key))
        return self._prompt_index[key]


def collect_samples(run_dir: Path, cfg: dict, order: tuple[list[str], list[str]], outcomes: Outcomes,
                    pairs: list[tuple[str, CellKey, CellKey]]) -> BrowserData:
    """Every sample of every final cell (ordered by eval set, row, column, seed) with its verdicts, and each
    highlighted pair's differing requests as pairs of sample indices."""
    evals = {e["name"]: e for e in cfg.get("evals", [])}
    rows, cols = order
    eval_names = list(evals)
    store = StudyStore(run_dir)
    cells = [c for c in store.active_cells() if c["step"] is None and c["eval_name"] in evals]
    cells.sort(key=lambda c: (eval_names.index(c["eval_name"]), _at(rows, c["label"]), _at(cols, c["test_template"]),
                              c["seed"] if c["seed"] is not None else -1))
    data, where = BrowserData(), {}
    for cell in cells:
        ev = evals[cell["eval_name"]]
        scores = {name: store.scores(cell["id"], name) for name in ev["scorers"]}
        samples = store.samples(cell["id"])
        per_sample = [{col: v for name in ev["scorers"] for col, v in verdicts(name, scores[name].get(s["id"])).items()}
                      for s in samples]
        columns = list(dict.fromkeys(col for v in per_sample for col in v)) + [FINISH]
        index = len(data.cells)
        data.cells.append({"train": cell["label"], "test": cell["test_template"], "eval": cell["eval_name"],
                           "seed": cell["seed"], "columns": columns,
                           "kind": cell_kind(cell["label"], cell["test_template"], cfg), "n": len(samples)})
        for s, verdict in zip(samples, per_sample, strict=True):
            verdict[FINISH] = (s.get("finish_reason") or "unknown", f"{s.get('output_tokens', '?')} new tokens")
            where[(cell["label"], cell["test_template"], cell["eval_name"], cell["seed"], s["id"])] = len(data.samples)
            entry = [index, s["id"], s.get("input", ""), data.prompt_ref(s.get("prompt", ""), s.get("input", "")),
                     s.get("output", ""), s.get("reference"), [list(verdict.get(c, ("", ""))) for c in columns]]
            data.samples.append(entry)
            data.sizes.append(_size(entry))
            data.rows.append((data.cells[index], {**s, "verdicts": verdict}))
    store.close()
    for label, a, b in pairs:
        flips = [[where[(*a[:3], seed, item)], where[(*b[:3], seed, item)], va, vb]
                 for seed, item, va, vb in differing_requests(outcomes, a, b)
                 if (*a[:3], seed, item) in where and (*b[:3], seed, item) in where]
        flips.sort(key=lambda flip: flip[0])  # in the order of A's cell, not of the ids as strings
        data.comparisons.append({"label": label, "eval": a[2], "metric": a[4], "metric_label": LABELS.get(a[4], a[4]),
                                 "rate": is_percent(a[4]) and outcomes.kind.get(a[4]) == "rate",
                                 "a": list(a[:2]), "b": list(b[:2]), "flips": flips})
    return data


def _size(entry: list) -> int:
    """About the characters of the entry's JSON (its strings plus quotes, separators and escapes), without
    serialising it twice."""
    strings = [x for x in entry[1:6] if isinstance(x, str)] + [t for pair in entry[6] for t in pair]
    return sum(len(t) for t in strings) + 8 * len(strings) + 24


def _at(names: list[str], name: str) -> int:
    return names.index(name) if name in names else len(names)


def select(data: BrowserData, budget: int) -> list[bool]:
    """Which samples the page embeds: all when they fit `budget`; else the differing requests of the comparisons
    first (one of each comparison in turn, within half the budget), then the first k samples of every cell, the
    largest k that fits."""
    if sum(data.sizes) <= budget:
        return [True] * len(data.samples)
    keep, spent = [False] * len(data.samples), 0
    queues = [iter(c["flips"]) for c in data.comparisons]
    while queues:
        going = []
        for queue in queues:
            flip = next(queue, None)
            cost = sum(data.sizes[i] for i in set(flip[:2]) if not keep[i]) if flip else 0
            if flip is not None and spent + cost <= budget // 2:
                keep[flip[0]] = keep[flip[1]] = True
                spent += cost
                going.append(queue)
        queues = going
    by_cell: list[list[int]] = [[] for _ in data.cells]
    for i, entry in enumerate(data.samples):
        if not keep[i]:
            by_cell[entry[0]].append(i)

    def cost(k: int) -> int:
        return sum(data.sizes[i] for rest in by_cell for i in rest[:k])

    low, high = 0, max((len(rest) for rest in by_cell), default=0)
    while low < high:  # the largest k with cost(k) within what is left
        mid = (low + high + 1) // 2
        low, high = (mid, high) if cost(mid) <= budget - spent else (low, mid - 1)
    for rest in by_cell:
        for i in rest[:low]:
            keep[i] = True
    return keep


def page_json(data: BrowserData, keep: list[bool], overflow: str | None) -> str:
    """The embedded JSON: kept samples renumbered, comparisons pointing at them, and what was left out."""
    new_index, samples = {}, []
    for i, entry in enumerate(data.samples):
        if keep[i]:
            new_index[i] = len(samples)
            samples.append(entry)
    shown = [0] * len(data.cells)
    for entry in samples:
        shown[entry[0]] += 1
    comparisons = []
    for c in data.comparisons:
        flips = [[new_index[a], new_index[b], va, vb] for a, b, va, vb in c["flips"]
                 if a in new_index and b in new_index]
        comparisons.append({**c, "flips": flips, "left_out": len(c["flips"]) - len(flips)})
    doc = {"page": PAGE_ROWS, "cells": [{**cell, "shown": n} for cell, n in zip(data.cells, shown, strict=True)],
           "prompts": data.prompts, "samples": samples, "comparisons": comparisons, "overflow": overflow}
    return json_for_script(doc)


def json_for_script(doc) -> str:
    """JSON that is inert inside a <script type="application/json"> element: no '<', '>' or '&' appears
    literally (each is a JSON escape), and a lone surrogate becomes its escape instead of invalid UTF-8."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _plain(value):
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def write_overflow(run_dir: Path, data: BrowserData, keep: list[bool]) -> str | None:
    """The samples the page leaves out, one JSON line each (cell, stored row, verdicts), beside report.html; a
    stale file of an earlier report of this run directory is removed when nothing is left out."""
    path = run_dir / OVERFLOW_FILE
    left = [i for i, k in enumerate(keep) if not k]
    if not left:
        path.unlink(missing_ok=True)
        return None
    lines = []
    for i in left:
        cell, row = data.rows[i]
        described = {k: cell[k] for k in ("train", "test", "eval", "seed")}
        # one line each, also for readers that break lines at U+2028/U+2029; lone surrogates as escapes
        line = json.dumps({"cell": described, **row}, ensure_ascii=False, default=str)
        line = line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        lines.append(line.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
    atomic_write_text(path, "".join(lines))
    return OVERFLOW_FILE


def script_text() -> str:
    return resources.files("ptst.report").joinpath("browser.js").read_text(encoding="utf-8")


def csp(script: str) -> str:
    """The page's Content-Security-Policy: nothing from the network, inline styles and data: images, and only
    the browser's own script (by its hash)."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            f"script-src 'sha256-{base64.b64encode(digest).decode()}'; base-uri 'none'; form-action 'none'")


def browser_html(run_dir: Path, cfg: dict, order: tuple[list[str], list[str]], outcomes: Outcomes,
                 pairs: list[tuple[str, CellKey, CellKey]], *, budget: int = BUDGET_CHARS) -> tuple[str, str]:
    """(the page section, the script to put at the end of the page)."""
    data = collect_samples(run_dir, cfg, order, outcomes, pairs)
    keep = select(data, budget)
    overflow = write_overflow(run_dir, data, keep)
    shown = sum(keep)
    what = (f"All {len(keep):,} samples of the final models are here." if overflow is None else
            f"{shown:,} of {len(keep):,} samples are here (the requests of the differences first, then the first "
            f"samples of each cell); all {len(keep) - shown:,} others are in "
            f'<a href="{OVERFLOW_FILE}">{OVERFLOW_FILE}</a> beside this page.')
    section = f"""<h2 id="samples">Samples</h2>
<p class="muted">{what} Pick a cell to read its responses with the exact rendered prompt and each scorer's
verdict, filter them by verdict or by how the reply ended (<code>length</code>: cut at max_new_tokens), or pick a
highlighted comparison to see the requests whose outcome differs between its two cells, side by side.</p>
<div id="ptst-browser"><noscript>The sample browser needs JavaScript; every sample is in store.sqlite.</noscript>
</div>
<script type="application/json" id="ptst-samples">{page_json(data, keep, overflow)}</script>"""
    return section, script_text()
