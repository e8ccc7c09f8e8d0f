"""results.csv and results.md of a real 2-seed study store carry intervals over seeds, two-level bootstrap
intervals and paired comparisons, each labelled with what it covers; with one seed, the report says the intervals
cover requests only. The store is the tiny model's (which refuses nothing), so the harmful set's keyword results
are redrawn in the store from a fixed seed to give the statistics something to measure."""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

T975_DF1 = 12.706  # Student's t, 0.975 quantile, 1 degree of freedom (printed table)


@pytest.fixture(scope="module")
def two_seed_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("stats")
    cfg = base / "two-seeds.yaml"
    cfg.write_text((ROOT / "configs" / "smoke.yaml").read_text().replace("seeds: [0]", "seeds: [0, 1]")
                   .replace("limit: 16", "limit: 8")
                   .replace("  - {name: math, data: builtin:math, limit: 4, data_seed: 1, scorers: [gsm8k]}\n", "")
                   .replace("limit: 6, scorers", "limit: 10, scorers"))
    out = base / "run"
    r = run_cli("run", str(cfg), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    _redraw_harmful_refusals(out)
    r = run_cli("report", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _cells(db: sqlite3.Connection) -> dict[str, tuple]:
    q = ("SELECT c.id, v.train_template, c.test_template, v.seed, c.eval_name FROM cells c "
         "JOIN variants v ON v.id = c.variant_id WHERE v.step IS NULL")
    return {row[0]: (row[1] or "base", *row[2:]) for row in db.execute(q)}


def _redraw_harmful_refusals(run_dir: Path) -> None:
    db = sqlite3.connect(run_dir / "store.sqlite")
    rng = random.Random(7)
    rates = {"chat:vanilla": 0.2, "chat:llama": 0.6}
    for cid, (train, test, _seed, eval_name) in _cells(db).items():
        if eval_name != "harmful":
            continue
        for item, result in db.execute("SELECT item_id, result FROM scores WHERE cell_id = ? AND scorer = ?",
                                       (cid, "refusal-keywords")).fetchall():
            refused = int(rng.random() < rates[test] + (0.1 if train == "chat:llama" else 0.0))
            row = json.loads(result) | {"refused": refused, "asr": 1 - refused}
            db.execute("UPDATE scores SET result = ? WHERE cell_id = ? AND item_id = ? AND scorer = ?",
                       (json.dumps(row), cid, item, "refusal-keywords"))
    db.commit()
    db.close()


def _outcomes(run_dir: Path, train: str, test: str) -> dict:
    """seed -> request -> attack success, read straight from the store."""
    db = sqlite3.connect(run_dir / "store.sqlite")
    out: dict = {}
    for cid, (tr, te, seed, eval_name) in _cells(db).items():
        if (tr, te, eval_name) == (train, test, "harmful"):
            for item, result in db.execute("SELECT item_id, result FROM scores WHERE cell_id = ? AND scorer = ?",
                                           (cid, "refusal-keywords")):
                out.setdefault(seed, {})[item] = json.loads(result)["asr"]
    db.close()
    return out


def _rows(run_dir: Path) -> list[dict]:
    return list(csv.DictReader((run_dir / "results.csv").open()))


def _pick(rows, **want) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in want.items())]


@pytest.mark.slow  # a two-seed study
def test_per_seed_rows_say_they_cover_requests(two_seed_run):
    rows = _pick(_rows(two_seed_run), dataset="harmful", metric="asr_keyword", comparison="")
    per_seed = [r for r in rows if r["seed"] != "all"]
    assert per_seed and all(r["covers"] == "requests (Wilson 95%)" for r in per_seed)


@pytest.mark.slow  # a two-seed study
def test_interval_over_seeds_equals_the_t_interval_of_the_per_seed_values(two_seed_run):
    rows = _rows(two_seed_run)
    for train, test in itertools.product(("chat:vanilla", "chat:llama"), repeat=2):
        cell = _pick(rows, train_template=train, test_template=test, dataset="harmful", metric="asr_keyword",
                     comparison="")
        values = [float(r["value"]) for r in cell if r["seed"] in ("0", "1")]
        assert len(values) == 2
        centre = (values[0] + values[1]) / 2
        half = T975_DF1 * abs(values[0] - values[1]) / math.sqrt(2) / math.sqrt(2)  # sd of 2 = |a - b| / sqrt 2
        (over_seeds,) = [r for r in cell if r["covers"] == "seeds (t 95%, k=2)"]
        assert over_seeds["seed"] == "all" and float(over_seeds["value"]) == pytest.approx(centre, abs=1e-5)
        assert float(over_seeds["low"]) == pytest.approx(max(0.0, centre - half), abs=1e-5)
        assert float(over_seeds["high"]) == pytest.approx(min(1.0, centre + half), abs=1e-5)
        (two_level,) = [r for r in cell if r["covers"] == "seeds and requests (two-level bootstrap 95%, k=2)"]
        assert float(two_level["low"]) <= centre <= float(two_level["high"])
        assert float(two_level["low"]) >= min(values) - 0.35 and float(two_level["high"]) <= max(values) + 0.35


def _mcnemar_by_enumeration(b: int, c: int) -> float:
    n = b + c
    extreme = sum(abs(sum(coins) - n / 2) >= abs(b - n / 2) for coins in itertools.product((0, 1), repeat=n))
    return extreme / 2 ** n


@pytest.mark.slow  # a two-seed study
@pytest.mark.parametrize(("label", "versus"), [("PTST vs same-template training", ("chat:llama", "chat:llama")),
                                               ("safety prompt at test time, same model",
                                                ("chat:vanilla", "chat:vanilla"))])
def test_highlighted_differences_with_paired_test_and_holm(two_seed_run, label, versus):
    rows = _rows(two_seed_run)
    diff = _pick(rows, comparison=label, train_template="chat:vanilla", test_template="chat:llama",
                 dataset="harmful", metric="asr_keyword")
    assert {r["covers"] for r in diff} == {"seeds and requests (two-level paired bootstrap 95%, k=2)",
                                          "seeds (t 95%, k=2)"}
    assert all((r["versus_train_template"], r["versus_test_template"]) == versus for r in diff)
    a, b = _outcomes(two_seed_run, "chat:vanilla", "chat:llama"), _outcomes(two_seed_run, *versus)
    per_seed = [sum(a[s][i] - b[s][i] for i in a[s]) / len(a[s]) for s in a]
    assert float(diff[0]["value"]) == pytest.approx(sum(per_seed) / len(per_seed), abs=1e-5)
    only_a = sum(a[s][i] > b[s][i] for s in a for i in a[s])
    only_b = sum(a[s][i] < b[s][i] for s in a for i in a[s])
    assert float(diff[0]["p_value"]) == pytest.approx(_mcnemar_by_enumeration(only_a, only_b), rel=1e-5)
    assert diff[0]["test"].startswith("exact McNemar (requests paired within seed, 2 seeds pooled)")
    def which(r):
        return r["comparison"], r["train_template"], r["test_template"], r["dataset"], r["metric"]

    tested = {which(r): float(r["p_value"]) for r in rows if r["p_value"]}
    m, p = len(tested), float(diff[0]["p_value"])
    assert f"Holm over {m} comparisons" in diff[0]["test"]
    assert p <= float(diff[0]["p_holm"]) <= min(1.0, m * p) * (1 + 1e-5)
    smallest = min(tested, key=tested.get)
    top = next(r for r in rows if which(r) == smallest)
    assert float(top["p_holm"]) == pytest.approx(min(1.0, m * tested[smallest]), rel=1e-5)


@pytest.mark.slow  # a two-seed study
def test_markdown_says_what_each_interval_covers(two_seed_run):
    md = (two_seed_run / "results.md").read_text()
    assert "## What the intervals cover" in md and "seeds (t 95%, k=2)" in md
    assert "seeds and requests (two-level bootstrap 95%, k=2)" in md
    assert "## Differences the report highlights" in md and "PTST vs same-template training" in md
    assert "exact McNemar" in md and "p (Holm)" in md


@pytest.mark.slow  # a two-seed study
def test_one_seed_report_says_intervals_cover_requests_only(two_seed_run, tmp_path):
    run = tmp_path / "one-seed"
    shutil.copytree(two_seed_run, run)
    db = sqlite3.connect(run / "store.sqlite")
    seed0 = [cid for cid, (_, _, seed, _) in _cells(db).items() if seed in (0, None)]
    db.execute("UPDATE meta SET value = ? WHERE key = 'active_cells'", (json.dumps(seed0),))
    db.commit()
    db.close()
    r = run_cli("report", str(run))
    assert r.returncode == 0, r.stderr[-3000:]
    md = (run / "results.md").read_text()
    assert "One seed: every interval in this report covers requests only" in md
    assert "Intervals over seeds" not in md
    rows = _rows(run)
    assert not [r for r in rows if r["seed"] == "all"]
    diff = _pick(rows, comparison="PTST vs same-template training", dataset="harmful", metric="asr_keyword")
    assert [r["covers"] for r in diff] == ["requests (paired bootstrap 95%, 1 seed)"]


def test_highlighted_pairs_compare_each_ptst_cell_with_each_baseline_as_deployed():
    from ptst.report.intervals import Outcomes, highlighted_pairs
    from ptst.report.results import Result

    cells = [("chat:vanilla", "chat:vanilla"), ("chat:vanilla", "chat:llama"), ("chat:llama", "chat:llama"),
             ("bea", "bea:secret"), ("bea", "chat:llama"), ("safety-mix", "chat:vanilla")]
    out = Outcomes()
    for train, test in cells:
        out.cells[(train, test, "harmful", "refusal-keywords", "asr_keyword")][0] = {"r1": 1.0, "r2": 0.0}
    results = [Result(train, test, 0, None, "harmful", "harmful", "refusal-keywords", "asr_keyword", 0.5, 2, 0.0,
                      1.0) for train, test in cells]
    safety = {"chat:vanilla": False, "chat:llama": True, "bea:secret": True, "bea": False, "safety-mix": False}

    def is_ptst(row, col):
        return row != col and not safety[row] and safety[col]

    pairs = highlighted_pairs(out, results, is_ptst, {"bea": "bea:secret", "safety-mix": "chat:vanilla"})
    ptst = ("chat:vanilla", "chat:llama")
    assert sorted((label, a[:2], b[:2]) for label, a, b in pairs) == sorted([
        ("PTST vs same-template training", ptst, ("chat:llama", "chat:llama")),
        ("safety prompt at test time, same model", ptst, ("chat:vanilla", "chat:vanilla")),
        ("PTST vs baseline bea", ptst, ("bea", "bea:secret")),
        ("PTST vs baseline safety-mix", ptst, ("safety-mix", "chat:vanilla"))])  # a baseline row is never A


PRIMARY = [{"name": "PTST vs same-template", "a": "chat:vanilla -> chat:llama", "b": "chat:llama -> chat:llama",
            "set": "harmful", "metric": None},
           {"name": "prompt at test time", "a": "chat:vanilla -> chat:llama", "b": "chat:vanilla -> chat:vanilla",
            "set": "harmful", "metric": "asr_keyword"}]


@pytest.mark.slow  # a two-seed study
def test_primary_comparisons_are_tested_over_seeds_with_holm_over_them_alone(two_seed_run, tmp_path):
    run = tmp_path / "primary"
    shutil.copytree(two_seed_run, run)
    db = sqlite3.connect(run / "store.sqlite")
    config = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps({**config, "primary": PRIMARY}),))
    db.commit()
    db.close()
    r = run_cli("report", str(run))
    assert r.returncode == 0, r.stderr[-3000:]
    rows = _rows(run)
    p_values = []
    for comparison in PRIMARY:
        (row,) = _pick(rows, comparison=f"primary: {comparison['name']}")
        a = _outcomes(run, *comparison["a"].split(" -> "))
        b = _outcomes(run, *comparison["b"].split(" -> "))
        per_seed = [sum(a[s].values()) / len(a[s]) - sum(b[s].values()) / len(b[s]) for s in sorted(a)]
        mean, sd = sum(per_seed) / 2, abs(per_seed[0] - per_seed[1]) / math.sqrt(2)
        assert float(row["value"]) == pytest.approx(mean, abs=1e-5)
        assert [float(d) for d in row["per_seed"].split()] == pytest.approx(per_seed, abs=1e-4)
        assert row["covers"] == "seeds (t 95%, k=2)" and row["metric"] == "asr_keyword" and row["n"] == "2"
        # df = 1: Student's t is Cauchy, so the two-sided p is 1 - (2/pi) atan(|t|)
        p = 1 - 2 / math.pi * math.atan(abs(mean) / (sd / math.sqrt(2))) if sd else float(mean == 0)
        assert float(row["p_value"]) == pytest.approx(p, rel=1e-4, abs=1e-6)
        flips = [abs(x * per_seed[0] + y * per_seed[1]) >= abs(sum(per_seed)) - 1e-12
                 for x, y in itertools.product((1, -1), repeat=2)]
        assert float(row["p_sign_flip"]) == pytest.approx(sum(flips) / 4)
        assert row["test"].startswith("paired t over per-seed differences (k=2, df=1); Holm over 2 primary")
        p_values.append(float(row["p_value"]))
    holm = [float(_pick(rows, comparison=f"primary: {c['name']}")[0]["p_holm"]) for c in PRIMARY]
    assert min(holm) == pytest.approx(min(1.0, 2 * min(p_values)), rel=1e-4)
    assert max(holm) == pytest.approx(max(min(holm), max(p_values)), rel=1e-4)
    md = (run / "results.md").read_text()
    assert "## Primary comparisons (named in the study config before it ran)" in md
    assert "## Exploratory: other differences the report highlights" in md  # the rest, labelled so
    assert md.index("## Primary comparisons") < md.index("## Exploratory")


@pytest.mark.parametrize("comparison, message", [
    ({"a": "chat:vanilla", "b": "base -> chat:llama"}, "field 'primary.0.a': 'chat:vanilla': expected 'ROW -> TEST'"),
    ({"a": "chat:alpaca -> chat:llama"}, "primary[0] (c).a: 'chat:alpaca' is not a row of this study"),
    ({"a": "base -> chat:mpt"}, "primary[0] (c).a: the row base is not tested with chat:mpt"),
    ({"set": "gsm8k"}, "primary[0] (c).set: 'gsm8k' is not one of the evals"),
    ({"metric": "accuracy"}, "primary[0] (c).metric: the scorers of harmful report no 'accuracy'"),
])
def test_a_primary_comparison_must_name_cells_of_the_study(tmp_path, comparison, message):
    base = {"name": "c", "a": "chat:vanilla -> chat:llama", "b": "chat:llama -> chat:llama", "set": "harmful"}
    cfg = tmp_path / "study.yaml"
    cfg.write_text((ROOT / "configs" / "smoke.yaml").read_text()
                   + "primary:\n  - " + json.dumps({**base, **comparison}) + "\n")
    r = run_cli("run", str(cfg), "--dry-run", "--calibrate", "no")
    assert r.returncode == 2 and "Traceback" not in r.stderr and message in r.stderr, r.stderr
