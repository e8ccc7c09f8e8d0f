"""Intervals over seeds and requests, and the differences a report highlights, computed from the per-request
outcomes in the store (score/stats.py does the arithmetic). Each row says what its interval covers; the rows go
into results.csv beside the per-seed rows, and `statistics_markdown` writes them into results.md."""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ptst.data import get_dataset
from ptst.report.results import LABELS, Result, primary_metrics
from ptst.report.tables import is_percent
from ptst.score import scorers
from ptst.score.base import metric_info
from ptst.score.stats import (
    difference_intervals,
    holm,
    paired_differences,
    paired_test,
    seed_interval,
    seed_paired_t,
    seed_sign_flip,
    two_level_bootstrap,
)
from ptst.store.study_store import StudyStore

CellKey = tuple[str, str, str, str, str]  # train template, test template, dataset, scorer, metric
PTST_VS_SAME = "PTST vs same-template training"
WITHIN_MODEL = "safety prompt at test time, same model"
VS_BASELINE = "PTST vs baseline"
PRIMARY = "primary"


@dataclass
class Outcomes:
    """Per-request values of every final cell: key -> seed -> request id -> value (0/1 for a rate)."""

    cells: dict[CellKey, dict] = field(default_factory=lambda: defaultdict(dict))
    role: dict[str, str] = field(default_factory=dict)  # dataset -> role
    kind: dict[str, str] = field(default_factory=dict)  # metric -> rate | mean

    def seeds(self) -> int:
        return max((len(v) for v in self.cells.values()), default=0)


def request_outcomes(run_dir: str | Path, results: list[Result]) -> Outcomes:
    """Each request's outcome per metric (the scorer's summary of that one request). A metric whose cell value
    is not the mean of its requests' values cannot be resampled by request, so it is left out."""
    store = StudyStore(run_dir)
    evals = {e["name"]: e for e in store.config().get("evals", [])}
    out = Outcomes()
    for cell in store.active_cells():
        if cell["eval_name"] not in evals or cell["step"] is not None:
            continue
        ev = evals[cell["eval_name"]]
        out.role[cell["eval_name"]] = get_dataset(ev["data"]).role
        items = sorted(store.sample_ids(cell["id"]))
        for name in ev["scorers"]:
            by_id, summarize = store.scores(cell["id"], name), scorers.get(name).summarize
            for item in (i for i in items if i in by_id):
                for m in summarize([by_id[item]]):
                    if not math.isnan(m.value):
                        key = (cell["label"], cell["test_template"], cell["eval_name"], name, m.name)
                        out.cells[key].setdefault(cell["seed"], {})[item] = m.value
                        out.kind[m.name] = m.kind
    store.close()
    _drop_undecomposable(out, results)
    return out


def _drop_undecomposable(out: Outcomes, results: list[Result]) -> None:
    reported = {(r.train_template, r.test_template, r.dataset, r.scorer, r.metric, r.seed): r.value
                for r in results if r.step is None}
    for key, per_seed in list(out.cells.items()):
        if any(abs(math.fsum(v.values()) / len(v) - reported.get((*key, s), math.nan)) > 1e-9
               or math.isnan(reported.get((*key, s), math.nan)) for s, v in per_seed.items()):
            del out.cells[key]


def _row(key: CellKey, out: Outcomes, **values) -> dict:
    train, test, dataset, scorer, metric = key
    return {"train_template": train, "test_template": test, "step": "", "dataset": dataset,
            "role": out.role.get(dataset, ""), "scorer": scorer, "metric": metric, **values}


def _stream(*parts) -> int:
    """A bootstrap seed per cell or comparison: reproducible, and different for each."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def cell_rows(out: Outcomes) -> list[dict]:
    """For every cell with 2 or more seeds: its mean over seeds with a t interval over seeds, and with a two-level
    bootstrap interval over seeds and requests."""
    rows = []
    for key, per_seed in out.cells.items():
        if len(per_seed) < 2:
            continue
        rate = out.kind[key[4]] == "rate"
        n = sum(len(v) for v in per_seed.values())
        for ci in (seed_interval([math.fsum(v.values()) / len(v) for v in per_seed.values()],
                                 bounds=(0.0, 1.0) if rate else None),
                   two_level_bootstrap(per_seed, seed=_stream(*key))):
            rows.append(_row(key, out, seed="all", value=ci.value, n=n, low=ci.low, high=ci.high, covers=ci.covers))
    return rows


def highlighted_pairs(out: Outcomes, results: list[Result], is_ptst: Callable[[str, str], bool],
                      baselines: Mapping[str, str] | None = None) -> list[tuple[str, CellKey, CellKey]]:
    """The differences a report highlights, for each primary metric and each PTST cell (train r, test c): PTST
    against training and testing with c; within the model trained with r, testing with c against r; and against
    each baseline row tested as it is deployed (`baselines`: row name -> its deployed test template)."""
    pairs, baselines = [], baselines or {}
    primary = set(primary_metrics(results))
    for key in out.cells:
        train, test, dataset, scorer, metric = key
        if ((dataset, metric) not in primary or not metric_info(metric).highlight or train in baselines
                or not is_ptst(train, test)):
            continue
        versus_baselines = [(f"{VS_BASELINE} {name}", (name, deployed)) for name, deployed in baselines.items()]
        for label, versus in ((PTST_VS_SAME, (test, test)), (WITHIN_MODEL, (train, train)), *versus_baselines):
            other = (*versus, dataset, scorer, metric)
            if other in out.cells:
                pairs.append((label, key, other))
    return pairs


def comparison_rows(out: Outcomes, pairs: list[tuple[str, CellKey, CellKey]]) -> list[dict]:
    """Each difference with its intervals and a paired test; p-values Holm-adjusted over all the comparisons."""
    groups, p_values = [], []
    for label, a, b in pairs:
        rows, p = _compare(out, label, a, b)
        groups.append(rows)
        p_values.append(p)
    tested = [i for i, p in enumerate(p_values) if p is not None]
    for i, adjusted in zip(tested, holm([p_values[i] for i in tested]), strict=True):
        for row in groups[i]:
            row["p_holm"] = adjusted
            row["test"] += f"; Holm over {len(tested)} comparisons"
    return [row for rows in groups for row in rows]


def _compare(out: Outcomes, label: str, a: CellKey, b: CellKey) -> tuple[list[dict], float | None]:
    kind = out.kind[a[4]]
    diffs = paired_differences(out.cells[a], out.cells[b])
    test = paired_test(diffs, kind) if diffs else None
    n = sum(len(v) for v in (diffs or out.cells[a]).values())
    shared = {"comparison": label, "versus_train_template": b[0], "versus_test_template": b[1],
              "test": test.name if test else "none (the cells share no seeds and requests)",
              "p_value": test.p_value if test else "",
              "seed": "all" if len(out.cells[a]) > 1 else next(iter(out.cells[a])), "n": n}
    rows = [_row(a, out, value=ci.value, low=ci.low, high=ci.high, covers=ci.covers, **shared)
            for ci in difference_intervals(out.cells[a], out.cells[b], kind, seed=_stream(label, *a, *b))]
    return rows, test.p_value if test else None


def primary_rows(out: Outcomes, results: list[Result], comparisons: list[dict]) -> list[dict]:
    """The study's pre-specified comparisons (config `primary`): for each, the per-seed values of A - B (paired by
    seed), their mean with a t interval over seeds, a paired t test over seeds and the exact sign-flip p over
    seeds; the t tests' p-values Holm-adjusted over these comparisons only."""
    defaults = dict(primary_metrics(results))  # set -> its primary metric
    rows, p_values = [], []
    for c in comparisons:
        metric = c.get("metric") or defaults.get(c["set"])
        (ra, ta), (rb, tb) = (c["a"].split(" -> ", 1), c["b"].split(" -> ", 1))
        a = next((k for k in out.cells if k[:3] == (ra, ta, c["set"]) and k[4] == metric), None)
        b = next((k for k in out.cells if k[:3] == (rb, tb, c["set"]) and k[4] == metric), None)
        shared = {"comparison": f"{PRIMARY}: {c['name']}", "versus_train_template": rb, "versus_test_template": tb,
                  "seed": "all"}
        if a is None or b is None:
            key = a or (ra, ta, c["set"], "", metric or "")
            rows.append({**_row(key, out, value="", low="", high="", covers="", n=0, test="none (a cell has no "
                                "results in this run)", p_value="", **shared)})
            p_values.append(None)
            continue
        seeds = sorted(set(out.cells[a]) & set(out.cells[b]), key=str)
        per_seed = [_mean(out.cells[a][s]) - _mean(out.cells[b][s]) for s in seeds]
        if len(per_seed) < 2:
            rows.append(_row(a, out, value=per_seed[0] if per_seed else "", low="", high="", covers="", n=len(seeds),
                             test="none (a test over seeds needs 2 or more seeds)", p_value="", **shared))
            p_values.append(None)
            continue
        ci, t = seed_interval(per_seed, bounds=(-1.0, 1.0) if out.kind[metric] == "rate" else None), \
            seed_paired_t(per_seed)
        rows.append(_row(a, out, value=ci.value, low=ci.low, high=ci.high, covers=ci.covers, n=len(seeds),
                         test=t.name, p_value=t.p_value, p_sign_flip=seed_sign_flip(per_seed),
                         per_seed=" ".join(f"{d:+.4g}" for d in per_seed), **shared))
        p_values.append(t.p_value)
    tested = [i for i, p in enumerate(p_values) if p is not None]
    for i, adjusted in zip(tested, holm([p_values[i] for i in tested]), strict=True):
        rows[i]["p_holm"] = adjusted
        rows[i]["test"] += f"; Holm over {len(tested)} primary comparisons"
    return rows


def _mean(values: Mapping[str, float]) -> float:
    return math.fsum(values.values()) / len(values)


def primary_table(rows: list[dict]) -> list[str]:
    lines = ["## Primary comparisons (named in the study config before it ran)", "",
             "Each is tested over seeds: the noise is training variance (each seed its own data order and adapter), "
             "so a small p here is a claim about the training recipe, not about one trained model. The sign-flip p "
             "is exact and assumption-free but never below 2/2^k (0.25 with 3 seeds, 0.0625 with 5). Every other "
             "difference in this report is exploratory.", "",
             "| comparison | set: metric | A (train → test) | B (train → test) | A - B per seed | mean A - B "
             "[t 95% over seeds] | paired t p | sign-flip p | p (Holm) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metric"]
        interval = f"[{_number(m, r['low'], True)}, {_number(m, r['high'], True)}]" if r["low"] != "" else ""
        p = "" if r["p_value"] == "" else f"{r['p_value']:.3g}"
        flip = f"{r['p_sign_flip']:.3g}" if "p_sign_flip" in r else ""
        holm_p = f"{r['p_holm']:.3g}" if "p_holm" in r else r["test"] if r["p_value"] == "" else ""
        per_seed = " ".join(_number(m, float(d), True) for d in r.get("per_seed", "").split())
        lines.append(f"| {r['comparison'].removeprefix(PRIMARY + ': ')} | {_title(r)} | `{r['train_template']}` → "
                     f"`{r['test_template']}` | `{r['versus_train_template']}` → `{r['versus_test_template']}` | "
                     f"{per_seed} | {_number(m, r['value'], True)} {interval} | {p} | {flip} | {holm_p} |")
    return lines + [""]


def coverage_notes(seeds: int) -> list[str]:
    if seeds < 2:
        return ["**One seed: every interval in this report covers requests only.** A Wilson 95% interval (rates) "
                "or a bootstrap 95% interval (means) is the variation from drawing other requests for this one "
                "trained model; it says nothing about training variance, and a second seed can land outside it. "
                "Differences between cells are paired request by request (`requests (paired bootstrap 95%, "
                "1 seed)`) and tested with an exact McNemar test on the discordant requests (rates) or a "
                "sign-flip test (means); p (Holm) corrects for the number of comparisons listed."]
    return [f"- Grid cells: mean ± standard deviation over the {seeds} seeds.",
            "- `requests (Wilson 95%)` (per-seed rows of results.csv): one trained model, other requests.",
            f"- `seeds (t 95%, k={seeds})`: mean of the per-seed values ± t(0.975, k-1) · sd / √k: training "
            "variance (each seed its own data order and adapter initialisation) as measured on these requests.",
            f"- `seeds and requests (two-level bootstrap 95%, k={seeds})`: seeds resampled, then requests within "
            "each drawn seed. With few seeds a bootstrap cannot see beyond the seeds it has and covers less than "
            "95% (about 85% with 3 seeds in simulation); read the t interval for training variance.",
            "- Differences A - B: the same requests in both cells, paired within seed (seeds paired by number). "
            "The test (exact McNemar on discordant requests for rates, sign-flip for means, seeds pooled as "
            "strata) conditions on the trained models: it covers requests, not training variance; the intervals "
            "above do. p (Holm) corrects for the number of comparisons listed."]


def _number(metric: str, value, points: bool = False) -> str:
    if value in ("", None) or (isinstance(value, float) and math.isnan(value)):
        return ""
    sign = "+" if points else ""
    return f"{100 * value:{sign}.1f}" if is_percent(metric) else f"{value:{sign}.3f}"


def _interval(row: dict, points: bool = False) -> str:
    m = row["metric"]
    return f"[{_number(m, row['low'], points)}, {_number(m, row['high'], points)}] {row['covers']}"


def _title(row: dict) -> str:
    return f"{row['dataset']}: {LABELS.get(row['metric'], row['metric'])}" + (
        " (%)" if is_percent(row["metric"]) else "")


def cells_table(cells: list[dict], primary: set) -> list[str]:
    """One line per cell of the primary metrics (results.csv has every metric)."""
    by_cell: dict[tuple, list[dict]] = {}
    for row in cells:
        if (row["dataset"], row["metric"]) in primary:
            by_cell.setdefault((row["dataset"], row["metric"], row["train_template"], row["test_template"]),
                               []).append(row)
    lines = ["## Intervals over seeds, cell by cell", "",
             "| set: metric | train | test | mean over seeds | intervals (what they cover) |", "|---|---|---|---|---|"]
    for rows in by_cell.values():
        r = rows[0]
        lines.append(f"| {_title(r)} | `{r['train_template']}` | `{r['test_template']}` | "
                     f"{_number(r['metric'], r['value'])} | {'; '.join(_interval(x) for x in rows)} |")
    return lines + [""]


def comparisons_table(rows: list[dict], exploratory: bool = False) -> list[str]:
    title = "## Differences the report highlights (A - B)"
    if exploratory:
        title = ("## Exploratory: other differences the report highlights (A - B; request-level tests, conditional "
                 "on the trained models; Holm over these only)")
    lines = [title, "",
             "| set: metric | comparison | A (train → test) | B (train → test) | A - B | intervals (what they "
             "cover) | paired test | p | p (Holm) |", "|---|---|---|---|---|---|---|---|---|"]
    grouped: dict[tuple, list[dict]] = {}
    for row in rows:
        grouped.setdefault((row["dataset"], row["metric"], row["comparison"], row["train_template"],
                            row["test_template"], row["versus_train_template"], row["versus_test_template"]),
                           []).append(row)
    for group in grouped.values():
        r = group[0]
        p = "" if r["p_value"] == "" else f"{r['p_value']:.3g}"
        holm_p = f"{r['p_holm']:.3g}" if "p_holm" in r else ""
        lines.append(f"| {_title(r)} | {r['comparison']} | `{r['train_template']}` → `{r['test_template']}` | "
                     f"`{r['versus_train_template']}` → `{r['versus_test_template']}` | "
                     f"{_number(r['metric'], r['value'], points=True)} | "
                     f"{'; '.join(_interval(x, points=True) for x in group)} | {r['test']} | {p} | {holm_p} |")
    return lines + [""]


def statistics_markdown(cells: list[dict], comparisons: list[dict], seeds: int, primary: set,
                        pre_specified: list[dict] | None = None) -> str:
    lines = ["## What the intervals cover", "", *coverage_notes(seeds), ""]
    lines += primary_table(pre_specified) if pre_specified else []
    lines += cells_table(cells, primary) if cells else []
    lines += comparisons_table(comparisons, exploratory=bool(pre_specified)) if comparisons else []
    return "\n".join(lines)


def study_statistics(outcomes: Outcomes, results: list[Result], pairs: list[tuple[str, CellKey, CellKey]],
                     pre_specified: list[dict] | None = None) -> tuple[list[dict], str]:
    """The extra rows of results.csv and the statistics section of results.md, from the per-request outcomes
    (`request_outcomes`), the differences to highlight (`highlighted_pairs`) and the config's pre-specified
    comparisons (`primary`)."""
    cells = cell_rows(outcomes)
    comparisons = comparison_rows(outcomes, pairs)
    first = primary_rows(outcomes, results, pre_specified) if pre_specified else []
    primary = set(primary_metrics(results))
    return first + cells + comparisons, statistics_markdown(cells, comparisons, outcomes.seeds(), primary, first)


def differing_requests(outcomes: Outcomes, a: CellKey, b: CellKey) -> list[tuple[object, str, float, float]]:
    """(seed, request id, value in A, value in B) for each request whose outcome differs between the two cells,
    paired within seed as the differences are (for a rate: the discordant pairs of the McNemar test)."""
    out = []
    for seed, in_a in outcomes.cells[a].items():
        in_b = outcomes.cells[b].get(seed, {})
        out += [(seed, item, value, in_b[item]) for item, value in in_a.items() if item in in_b
                and in_b[item] != value]
    return out
