"""The benchmarks' --quick modes run in CI as smoke tests (no timing assertions: timing lives in bench/)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _quick(script: str) -> str:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick"], capture_output=True, text=True,
                       timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "machine:" in r.stdout and "|---" in r.stdout
    return r.stdout


@pytest.mark.slow  # each benchmark in a process of its own, real models
@pytest.mark.parametrize("script", ["generation.py", "judge.py", "serve.py", "cpu_engine.py", "bf16.py"])
def test_quick_benchmark_runs_and_prints_its_table(script):
    _quick(script)


@pytest.mark.slow  # four training loops, each in a process of its own
def test_quick_training_benchmark_runs_each_loop_once_under_its_own_label():
    table = [[cell.strip() for cell in line.strip("|").split("|")] for line in _quick("training.py").splitlines()
             if line.startswith("| ") and not line.startswith("| loop")]
    rows = {row[0]: row for row in table}
    assert [row[0] for row in table] == ["plain", "grouped", "packed", "trained-logits"]
    real, projected = ({name: int(row[i]) for name, row in rows.items()} for i in (4, 5))
    assert len(set(real.values())) == 1  # the same examples in every loop
    assert projected["plain"] > projected["grouped"] > projected["packed"] == real["packed"]  # padding, then none
    assert projected["trained-logits"] < projected["packed"]  # only the trained positions reach the head


def test_training_benchmark_loop_names_survive_the_loops_separator():
    spec = importlib.util.spec_from_file_location("bench_training", ROOT / "bench" / "training.py")
    training = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(training)
    assert not [name for name in training.LOOPS if "," in name or name != name.strip()]
    assert training.parse_loops(",".join(training.LOOPS)) == list(training.LOOPS)
    assert training.parse_loops("trained-logits, plain") == ["trained-logits", "plain"]
    with pytest.raises(ValueError, match="unknown loop ptst; choose from plain, grouped"):
        training.parse_loops("ptst,plain")
