"""The judge cache shared by several processes at once (parallel `ptst score` runs on one machine)."""

from __future__ import annotations

import multiprocessing

from ptst.store.judge_cache import JudgeCache, judge_key


def _writer(path: str, worker: int, n: int) -> int:
    cache = JudgeCache(path)
    for k in range(n):
        # half the keys are shared by every worker (the same judgement asked twice), half are the worker's own
        key = judge_key("judge", "rubric", {}, "instruction", f"shared-{k}" if k % 2 else f"w{worker}-{k}")
        if cache.get(key) is None:
            cache.put(key, "judge", "rubric", f"#thescore: {k % 5 + 1}")
    cache.close()
    return worker


def test_four_processes_write_one_cache_without_losing_or_breaking_entries(tmp_path):
    path, n, workers = str(tmp_path / "cache.sqlite"), 200, 4
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        assert sorted(pool.starmap(_writer, [(path, w, n) for w in range(workers)])) == list(range(workers))
    cache = JudgeCache(path)
    assert len(cache) == workers * n // 2 + n // 2  # every worker's own keys, and the shared ones once
    assert cache.get(judge_key("judge", "rubric", {}, "instruction", "shared-3")) == "#thescore: 4"
    assert cache.get(judge_key("judge", "rubric", {}, "instruction", "w2-4")) == "#thescore: 5"
    cache.close()
