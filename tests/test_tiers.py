"""`make test-fast` (pytest -m "not slow"): every package keeps tests in the fast tier, and the kinds of test that
take minutes (benchmarks, Ray, llama.cpp against float32) stay out of it; `make test` runs both tiers."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT


class _Tiers:
    """A pytest plugin that records each collected test and whether it is marked slow."""

    def pytest_collection_finish(self, session):
        self.slow = {item.nodeid: item.get_closest_marker("slow") is not None for item in session.items}


def test_the_fast_tier_covers_every_package_and_leaves_the_slow_kinds_out():
    tiers = _Tiers()
    assert pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                        str(ROOT / "tests")], plugins=[tiers]) == 0
    fast = [test for test, slow in tiers.slow.items() if not slow]
    assert len(tiers.slow) > 500 and 0 < len(fast) < len(tiers.slow)
    for heavy in ("tests/bench/test_quick_benchmarks.py::test_quick", "tests/scale/", "tests/study/test_shards.py",
                  "tests/models/test_llamacpp_engine.py"):
        assert not [t for t in fast if t.startswith(heavy)] and [t for t in tiers.slow if t.startswith(heavy)]
    packages = sorted(p.name for p in (ROOT / "src" / "ptst").iterdir() if (ROOT / "tests" / p.name).is_dir())
    assert len(packages) >= 10
    assert [p for p in packages if not any(t.startswith(f"tests/{p}/") for t in fast)] == []
