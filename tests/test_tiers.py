"""`make test-fast` (pytest -m "not slow"): every package keeps tests in the fast tier, and the kinds of test that
take minutes (benchmarks, Ray, llama.cpp against float32) stay out of it; `make test` runs both tiers."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _collected(*marker: str) -> list[str]:
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *marker],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return [line for line in r.stdout.splitlines() if "::" in line]


def test_the_fast_tier_covers_every_package_and_leaves_the_slow_kinds_out():
    fast, everything = _collected("-m", "not slow"), _collected()
    assert set(fast) < set(everything)
    for heavy in ("tests/bench/test_quick_benchmarks.py::test_quick", "tests/scale/",
                  "tests/models/test_llamacpp_engine.py"):
        assert not [t for t in fast if t.startswith(heavy)] and [t for t in everything if t.startswith(heavy)]
    packages = sorted(p.name for p in (ROOT / "src" / "ptst").iterdir() if (ROOT / "tests" / p.name).is_dir())
    assert len(packages) >= 10
    assert [p for p in packages if not any(t.startswith(f"tests/{p}/") for t in fast)] == []
