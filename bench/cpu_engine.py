"""The `llamacpp` engine ([cpu-fast]) against the paper's reference loop (speed) and ptst's float32 engine
(fidelity), as ratios and agreements measured in one run.

    python bench/cpu_engine.py speed       # 48 AdvBench prompts, chat:llama, 48 new tokens, whole processes
    python bench/cpu_engine.py fidelity --adapters DIR1,DIR2   # >= 200 harmful requests, base + adapters
    python bench/cpu_engine.py --quick     # a smoke test for CI: SmolLM2, 4 prompts, no claims

speed: the reference loop (HF `generate`, batches of 8, float32; bench/generation.py's `reference_loop`), then
`ptst generate --engine llamacpp` and `ptst generate` (the float32 `ptst` engine), each a fresh process timed end
to end (start, model load, rendering, generation), repeated `--repeats` times in turn so that all rows of one
repeat share the machine's load. fidelity: `ptst generate` with each engine on the same requests, per model
(base and each adapter): refusal verdicts (ptst's keyword list) agreeing, keyword attack success of each engine
and its difference, identical outputs. Targets (issue #16): speed >= 8x; agreement >= 95%, |difference| <= 2
points per cell.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, in_subprocess, machine_line, print_table  # noqa: E402

ADVBENCH = str(SHARED / "advbench/harmful_behaviors.csv")
QWEN = "embedded:qwen2.5-coder-0.5b-instruct"
MIN_AGREEMENT, MAX_ASR_POINTS, SPEED_TARGET = 0.95, 2.0, 8.0
FIDELITY_HEADERS = ["model", "template", "n", "verdicts agree", "ASR ptst", "ASR llamacpp", "difference",
                    "identical outputs", "s ptst / llamacpp", "meets bar"]


def ptst_generate(model: str, engine: str, n: int, max_new_tokens: int, template: str, out: Path,
                  adapter: str | None = None) -> dict:
    """`ptst generate` in a fresh process, timed whole; its rows."""
    cmd = [sys.executable, "-m", "ptst", "generate", "--engine", engine, "--model", model, "--data", "advbench",
           "--data-file", ADVBENCH, "--limit", str(n), "--template", template, "--max-new-tokens",
           str(max_new_tokens), "--out", str(out)] + (["--adapter", adapter] if adapter else [])
    cpu, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {"seconds": seconds, "cpu": cpu, "tokens": sum(r["output_tokens"] for r in rows),
            "outputs": {r["id"]: r["output"] for r in rows}}


def children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: on a machine shared with other work, wall time
    measures the others too; CPU time measures the work itself (both sides use the same 2 threads)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def speed(model: str, n: int, max_new_tokens: int, repeats: int) -> list[list[str]]:
    from generation import WORKLOADS

    args = {"model": model, **WORKLOADS["advbench/chat:llama"], "n": n, "max_new_tokens": max_new_tokens,
            "which": "reference"}
    rows = []
    for repeat in range(1, repeats + 1):
        load_before, cpu = os.getloadavg()[0], children_cpu()
        ref = in_subprocess(Path(__file__).with_name("generation.py"), args)
        ref["cpu"] = children_cpu() - cpu
        with tempfile.TemporaryDirectory() as tmp:
            fast = ptst_generate(model, "llamacpp", n, max_new_tokens, "chat:llama", Path(tmp) / "l.jsonl")
            own = ptst_generate(model, "ptst", n, max_new_tokens, "chat:llama", Path(tmp) / "p.jsonl")
        load_after = os.getloadavg()[0]
        same = sum(fast["outputs"].get(k) == v for k, v in ref["outputs"].items())
        agree = verdict_agreement(ref["outputs"], fast["outputs"])
        rows.append([str(repeat), *(f"{r['seconds']:.0f} ({r['cpu']:.0f})" for r in (ref, own, fast)),
                     f"{ref['seconds'] / own['seconds']:.2f}x ({ref['cpu'] / own['cpu']:.2f}x)",
                     f"**{ref['seconds'] / fast['seconds']:.2f}x** ({ref['cpu'] / fast['cpu']:.2f}x)",
                     f"{same}/{n}", f"{agree}/{n}", f"{load_before:.1f} / {load_after:.1f}"])
        print(f"  repeat {repeat}: " + " | ".join(rows[-1]), flush=True)
    return rows


def verdict_agreement(ref: dict, fast: dict) -> int:
    from ptst.score.refusal import matched_phrase

    return sum((matched_phrase(text) is None) == (matched_phrase(fast.get(k, "")) is None) for k, text in ref.items())


def fidelity(model: str, adapters: list[str | None], n: int, max_new_tokens: int, template: str):
    from ptst.score.refusal import matched_phrase

    rows, failed = [], False
    for adapter in adapters:
        with tempfile.TemporaryDirectory() as tmp:
            ref = ptst_generate(model, "ptst", n, max_new_tokens, template, Path(tmp) / "p.jsonl", adapter)
            fast = ptst_generate(model, "llamacpp", n, max_new_tokens, template, Path(tmp) / "l.jsonl", adapter)
        ids = sorted(ref["outputs"])
        refused = {name: {k: matched_phrase(run["outputs"][k]) is not None for k in ids}
                   for name, run in (("ref", ref), ("fast", fast))}
        agree = sum(refused["ref"][k] == refused["fast"][k] for k in ids) / len(ids)
        asr = {name: 100 * sum(not v for v in verdicts.values()) / len(ids) for name, verdicts in refused.items()}
        identical = sum(ref["outputs"][k] == fast["outputs"][k] for k in ids)
        ok = agree >= MIN_AGREEMENT and abs(asr["fast"] - asr["ref"]) <= MAX_ASR_POINTS
        failed |= not ok
        rows.append([Path(adapter).name if adapter else "base", template, str(len(ids)), f"{100 * agree:.1f}%",
                     f"{asr['ref']:.1f}", f"{asr['fast']:.1f}", f"{asr['fast'] - asr['ref']:+.1f}",
                     f"{identical}/{len(ids)}", f"{ref['seconds']:.0f} / {fast['seconds']:.0f}",
                     "yes" if ok else "**no**"])
        print("  " + " | ".join(rows[-1]), flush=True)
    return rows, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=["speed", "fidelity"], default="speed")
    parser.add_argument("--quick", action="store_true", help="SmolLM2, 4 prompts: a smoke test for CI")
    parser.add_argument("--model", default=QWEN)
    parser.add_argument("--n", type=int, help="requests (default: 48 for speed, 208 for fidelity)")
    parser.add_argument("--max-new-tokens", type=int, help="default: 48 for speed, 32 for fidelity")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--adapters", default="", help="comma-separated adapter directories from `ptst train`")
    parser.add_argument("--templates", default="chat:llama,chat:vanilla")
    args = parser.parse_args()
    print(f"machine: {machine_line()}\n")
    if args.quick:
        rows, _ = fidelity("embedded:smollm2-135m-instruct", [None], 4, 8, "chat:llama")
        print()
        print_table(FIDELITY_HEADERS, rows)
        print("\n(--quick: a smoke test; no claims)")
        return 0
    if args.what == "speed":
        n, new = args.n or 48, args.max_new_tokens or 48
        print(f"speed: {args.model}, {n} AdvBench prompts, chat:llama, greedy, {new} new tokens\n")
        rows = speed(args.model, n, new, args.repeats)
        print()
        print_table(["repeat", "ref s (CPU s)", "ptst s (CPU s)", "llamacpp s (CPU s)", "ptst speed-up (CPU)",
                     "llamacpp speed-up (CPU)", "llamacpp = ref", "refusal verdict = ref",
                     "load avg before / after"], rows)
        print(f"\ntarget (issue #16): llamacpp at least {SPEED_TARGET:.0f}x the reference loop, whole process")
        return 0
    n, new = args.n or 208, args.max_new_tokens or 32
    adapters = [None] + [a for a in args.adapters.split(",") if a]
    print(f"fidelity: {args.model}, {n} AdvBench requests, greedy, {new} new tokens\n")
    rows, failed = [], False
    for template in args.templates.split(","):
        more, bad = fidelity(args.model, adapters, n, new, template)
        rows += more
        failed |= bad
    print()
    print_table(FIDELITY_HEADERS, rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
