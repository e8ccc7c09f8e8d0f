"""vLLM's CPU backend against ptst's own engine: `ptst generate --engine vllm` and `--engine ptst` on the same
workload, float32 and greedy on both, each in a fresh process, in the vLLM environment (`make install-vllm`):

    .venv-vllm/bin/python bench/vllm_cpu.py                 # SmolLM2, 48 AdvBench prompts under chat:llama
    .venv-vllm/bin/python bench/vllm_cpu.py --n 16 --max-new-tokens 16 --models embedded:tiny-random

Each process runs two `ptst generate` commands on the same prompts: "cold" is the first (model load and, for
vLLM, its engine start, as a one-off command pays), "warm" the second (vLLM's engine already running, as in a
study, which hands it every cell of every adapter; ptst reloads its model, a second or two). The ratio is ptst's
seconds over vLLM's: above 1, vLLM is faster. Identical outputs are counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, in_subprocess, machine_line, peak_rss_mb, print_table  # noqa: E402


def timed_generate(args: dict) -> dict:
    """In a fresh process: the same generate command twice (cold, then warm); seconds, tokens and outputs."""
    from ptst.cli.main import main

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("cold", "warm"):
            out = Path(tmp) / f"{name}.jsonl"
            start = time.perf_counter()
            rc = main(["generate", "--model", args["model"], "--data", "advbench", "--data-file",
                       str(SHARED / "advbench/harmful_behaviors.csv"), "--limit", str(args["n"]), "--template",
                       "chat:llama", "--max-new-tokens", str(args["max_new_tokens"]), "--dtype", "float32",
                       "--engine", args["engine"], "--out", str(out)])
            if rc != 0:
                raise SystemExit(rc)
            rows = [json.loads(line) for line in out.read_text().splitlines()]
            runs.append({"seconds": time.perf_counter() - start, "tokens": sum(r["output_tokens"] for r in rows),
                         "outputs": {r["id"]: r["output"] for r in rows}})
    return {"cold": runs[0], "warm": runs[1], "peak_mb": peak_rss_mb()}


def measure(model: str, n: int, max_new_tokens: int) -> list[str]:
    here, args = Path(__file__), {"model": model, "n": n, "max_new_tokens": max_new_tokens}
    ptst = in_subprocess(here, {**args, "engine": "ptst"})
    vllm = in_subprocess(here, {**args, "engine": "vllm"})
    same = sum(vllm["warm"]["outputs"].get(k) == v for k, v in ptst["warm"]["outputs"].items())
    row = [model.removeprefix("embedded:")]
    for phase in ("cold", "warm"):
        p, v = ptst[phase], vllm[phase]
        row += [f"{p['seconds']:.1f}", f"{v['seconds']:.1f}", f"{p['seconds'] / v['seconds']:.2f}x"]
    warm_tok = lambda r: f"{r['warm']['tokens'] / r['warm']['seconds']:.1f}"  # noqa: E731
    return row + [warm_tok(ptst), warm_tok(vllm), f"{ptst['peak_mb']:.0f}", f"{vllm['peak_mb']:.0f}",
                  f"{same}/{n}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--models", default="embedded:smollm2-135m-instruct")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(timed_generate(json.loads(args.child))))
        return 0
    print(f"machine: {machine_line()}\nAdvBench under chat:llama, {args.n} prompts, {args.max_new_tokens} new "
          "tokens, greedy, float32\n")
    rows = [measure(model, args.n, args.max_new_tokens) for model in args.models.split(",")]
    print_table(["model", "cold ptst s", "cold vllm s", "cold ratio", "warm ptst s", "warm vllm s", "warm ratio",
                 "ptst tok/s", "vllm tok/s", "ptst MB", "vllm MB (driver)", "identical"], rows)
    return 0


if __name__ == "__main__":  # vLLM starts its workers with spawn
    sys.exit(main())
