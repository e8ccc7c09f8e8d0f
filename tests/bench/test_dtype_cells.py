"""bench/dtype_cells.py applies the bf16-vs-float32 rule written in bench/RESULTS.md before the float32 study ran."""

from __future__ import annotations

import csv
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = ROOT / "bench" / "dtype_cells.py"
BF16 = ROOT / "docs" / "default-study-3seeds" / "results.csv"


def _shifted(path, out, cells: int, by: float):
    """A copy of a results.csv with the per-seed harmful-set values of the first CELLS trained cells moved by BY."""
    rows = list(csv.DictReader(path.open(newline="")))
    keys = sorted({(r["train_template"], r["test_template"], r["dataset"]) for r in rows
                   if r["train_template"] != "base" and not r["comparison"] and r["seed"].isdigit()})[:cells]
    for r in rows:
        if (r["train_template"], r["test_template"], r["dataset"]) in keys and r["seed"].isdigit() \
                and not r["comparison"]:
            r["value"] = str(min(float(r["value"]) + by, 1.0) if by > 0 else max(float(r["value"]) + by, 0.0))
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=rows[0].keys())
        w.writeheader()
        w.writerows(rows)
    return out


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False)


def test_the_same_cells_pass_the_rule():
    r = _run(BF16, BF16)
    assert r.returncode == 0 and "trained cells outside float32's spread: **0**" in r.stdout
    assert "the rule holds" in r.stdout


def test_five_moved_cells_fail_the_rule(tmp_path):
    moved = _shifted(BF16, tmp_path / "f32.csv", 5, -0.4)  # far outside any seed spread, and under 0 nowhere
    r = _run(BF16, moved)
    assert r.returncode == 0, r.stderr
    assert "trained cells outside float32's spread: **5**" in r.stdout and "the rule fails" in r.stdout


def test_a_missing_file_is_one_line_and_exit_2(tmp_path):
    r = _run(BF16, tmp_path / "nope.csv")
    assert r.returncode == 2 and "nope.csv: no such file" in r.stderr and "Traceback" not in r.stderr
