"""The benchmarks' --quick modes run in CI as smoke tests (no timing assertions: timing lives in bench/)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("script", ["generation.py", "training.py", "judge.py", "serve.py", "cpu_engine.py", "bf16.py"])
def test_quick_benchmark_runs_and_prints_its_table(script):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick"], capture_output=True, text=True,
                       timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "machine:" in r.stdout and "|---" in r.stdout
