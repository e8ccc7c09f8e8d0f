"""Judge benchmark: requests/s of the rubric judge against a local OpenAI-compatible server that answers each
request after a fixed delay; one request at a time, with concurrency, and the cached re-run.

    python bench/judge.py            # 64 samples, 100 ms per answer
    python bench/judge.py --quick    # 16 samples, 20 ms
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, print_table  # noqa: E402


def main() -> int:
    from tests.score.judge_server import JudgeServer

    from ptst.score.judges import OpenAIJudge
    from ptst.score.rubric import RubricScorer
    from ptst.store.judge_cache import JudgeCache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, delay = (16, 0.02) if args.quick else (64, 0.1)
    rows_in = [{"id": str(i), "input": f"request {i}", "output": "Sure, here." if i % 2 else "I can't."}
               for i in range(n)]
    print(f"machine: {machine_line()}\n{n} samples, server answers after {delay * 1000:.0f} ms\n")
    table = []
    with tempfile.TemporaryDirectory() as tmp, JudgeServer(delay_seconds=delay) as server:
        for label, conc, cache_name in (("sequential", 1, "a"), ("concurrency 8", 8, "b"), ("concurrency 32", 32, "c"),
                                        ("cached re-run", 32, "c")):
            judge = OpenAIJudge(server.base_url, "judge", concurrency=conc, cache=JudgeCache(Path(tmp) / cache_name))
            before = server.requests
            start = time.perf_counter()
            results = RubricScorer(judge, progress=False).score(rows_in)
            seconds = time.perf_counter() - start
            assert all(r["status"] == "scored" for r in results)
            table.append([label, f"{seconds:.2f}", f"{n / seconds:.1f}", server.requests - before])
    print_table(["mode", "seconds", "samples/s", "requests made"], table)
    base = float(table[0][1])
    print(f"\nconcurrency 32 vs sequential: {base / float(table[2][1]):.1f}x; cached re-run makes "
          f"{table[3][3]} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
