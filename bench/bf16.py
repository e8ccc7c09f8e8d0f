"""bfloat16 against float32 on this machine: the chip's own ceiling, generation, training and start-up.

Every number is a ratio of two runs made here, in the same invocation, on the same work; each run is a fresh
process. Runs alternate float32 / bfloat16 so a busy machine slows both alike, and each prints CPU seconds
beside wall seconds (on a shared machine CPU seconds are the steadier figure).

- ceiling: torch's bf16 / fp32 matrix-product speed at the model's own widths (prefill: 1,024 rows; decode: 16
  rows; the vocabulary projection). No engine can gain more than this from bf16 on this chip.
- generation: the study-sized workload of issue 21 (AdvBench under chat:llama at 48 new tokens, GSM8K test
  questions under chat:llama at 320), greedy, ptst's engine; base model, then a LoRA adapter (trained here in
  float32) merged into the weights and, for bf16, also attached unmerged. Reports identical outputs and the
  agreement of refusal verdicts (ptst-refusal-v1 keywords) with float32 on the same adapter.
- training: `ptst train` on the default study's data and hyper-parameters, N steps, steps per second.
- start-up: `ptst generate --limit 1 --max-new-tokens 1`, end to end.

    python bench/bf16.py                         # everything, the issue's sizes (tens of minutes on 2 cores)
    python bench/bf16.py --harmful 48 --gsm8k 8 --steps 6    # smaller
    python bench/bf16.py --quick                 # tiny model, a smoke test for CI (no timing claims)
    python bench/bf16.py --only ceiling,startup
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, in_subprocess, machine_line, peak_rss_mb, print_table  # noqa: E402

QWEN = "embedded:qwen2.5-coder-0.5b-instruct"
PARTS = ("ceiling", "training", "generation", "startup")


# ---- children (each in its own process) ----

def child_ceiling(args: dict) -> dict:
    import torch

    torch.manual_seed(0)
    shapes = {"prefill q/o (1024 x 896 x 896)": (1024, 896, 896), "prefill mlp (1024 x 896 x 4864)": (1024, 896, 4864),
              "decode q/o (16 x 896 x 896)": (16, 896, 896), "decode mlp (16 x 896 x 4864)": (16, 896, 4864),
              "decode vocab (16 x 896 x 151936)": (16, 896, 151936)}
    out = {}
    for name, (m, k, n) in shapes.items():
        times = {}
        for dtype in (torch.float32, torch.bfloat16):
            a, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
            for _ in range(3):
                torch.nn.functional.linear(a, w)
            runs = []
            for _ in range(args["reps"]):
                start = time.perf_counter()
                torch.nn.functional.linear(a, w)
                runs.append(time.perf_counter() - start)
            times[str(dtype)] = sorted(runs)[len(runs) // 2]
        out[name] = times["torch.float32"] / times["torch.bfloat16"]
    return {"ratios": out}


def child_generation(args: dict) -> dict:
    from ptst.data import load_items
    from ptst.models import load_model
    from ptst.models.engines import Decoding, engines
    from ptst.templates import get_template, render_prompt
    from ptst.templates.render import encode_rendered

    cpu0, start = time.process_time(), time.perf_counter()
    loaded = load_model(args["model"], adapter=args.get("adapter"), dtype=args["dtype"],
                        merge_adapter=args.get("merge", True))
    loaded_s = time.perf_counter() - start
    engine, template, outputs, tokens = engines.get("ptst"), get_template("chat:llama"), {}, 0
    for data, file, n, max_new in (("advbench", "advbench/harmful_behaviors.csv", args["harmful"], 48),
                                   ("gsm8k", "gsm8k/test.jsonl", args["gsm8k"], 320)):
        if not n:
            continue
        items = load_items(data, data_file=str(SHARED / file), limit=n, seed=0)
        ids = [encode_rendered(render_prompt(template, it.input, tokenizer=loaded.tokenizer), loaded.tokenizer)
               for it in items]
        for batch in engine.generate(loaded, ids, Decoding(max_new_tokens=max_new)):
            for g in batch:
                outputs[f"{data}/{items[g.index].id}"] = g.text
                tokens += g.output_tokens
    return {"seconds": time.perf_counter() - start, "load_seconds": loaded_s, "cpu_seconds": time.process_time() - cpu0,
            "tokens": tokens, "outputs": outputs, "peak_mb": peak_rss_mb(), "dtype": loaded.dtype}


def child_training(args: dict) -> dict:
    from ptst.train import TrainConfig, run_training

    cpu0 = time.process_time()
    cfg = TrainConfig(model=args["model"], data="builtin:math", limit=160, template="chat:vanilla", out=args["out"],
                      dtype=args["dtype"], lora_r=16, lora_alpha=32, learning_rate=5e-4, batch_size=8,
                      max_length=384, max_steps=args["steps"], logging_steps=1, seed=0)
    record = run_training(cfg, log=lambda m: None, quiet=True)
    return {"seconds": record["train_seconds"], "steps": record["steps"], "cpu_seconds": time.process_time() - cpu0,
            "loss_curve": [p["loss"] for p in record["loss_curve"]], "precision": record["dtype"],
            "peak_mb": peak_rss_mb()}


CHILDREN = {"ceiling": child_ceiling, "generation": child_generation, "training": child_training}


# ---- the parent ----

def child_env(threads: int | None) -> None:
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)


def alternate(args: dict, variants: list[dict], rounds: int) -> list[list[dict]]:
    """Run each variant `rounds` times, alternating them (A B A B ...); returns results per variant."""
    out = [[] for _ in variants]
    for r in range(rounds):
        order = range(len(variants)) if r % 2 == 0 else reversed(range(len(variants)))
        for i in order:
            out[i].append(in_subprocess(Path(__file__), {**args, **variants[i]}))
    return out


def refusal_verdicts(outputs: dict[str, str]) -> dict[str, bool]:
    from ptst.score.refusal import matched_phrase

    return {k: matched_phrase(v) is not None for k, v in outputs.items() if k.startswith("advbench/")}


def part_ceiling(model: str, reps: int) -> dict:
    r = in_subprocess(Path(__file__), {"which": "ceiling", "reps": reps})["ratios"]
    print_table(["matrix product at the model's widths", "bf16 / fp32 speed"], [[k, f"{v:.2f}x"] for k, v in r.items()])
    return r


def part_training(model: str, steps: int, rounds: int, out_dir: Path) -> dict:
    variants = [{"which": "training", "model": model, "steps": steps, "dtype": d} for d in ("float32", "bfloat16")]
    results = [[] for _ in variants]
    for r in range(rounds):
        for i in (range(2) if r % 2 == 0 else (1, 0)):
            out = out_dir / f"train-{variants[i]['dtype']}-{r}"
            results[i].append(in_subprocess(Path(__file__), {**variants[i], "out": str(out)}))
    rows, per = [], {}
    for v, rs in zip(variants, results, strict=True):
        wall, cpu = sum(x["seconds"] for x in rs), sum(x["cpu_seconds"] for x in rs)
        steps_done = sum(x["steps"] for x in rs)
        per[v["dtype"]] = {"steps_per_s": steps_done / wall, "cpu_per_step": cpu / steps_done}
        curve = rs[0]["loss_curve"]
        rows.append([v["dtype"], steps_done, f"{wall:.1f}", f"{cpu:.1f}", f"{steps_done / wall:.3f}",
                     f"{curve[0]:.3f} -> {curve[-1]:.3f}", json.dumps(rs[0]["precision"]),
                     f"{max(x['peak_mb'] for x in rs):.0f}"])
    print_table(["dtype", "steps", "train s", "CPU s (process)", "steps/s", "loss first -> last", "precision",
                 "peak MB"], rows)
    ratio = per["bfloat16"]["steps_per_s"] / per["float32"]["steps_per_s"]
    cpu_ratio = per["float32"]["cpu_per_step"] / per["bfloat16"]["cpu_per_step"]
    print(f"training, bf16 / fp32 steps per second: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU")
    return {"wall": ratio, "cpu": cpu_ratio, "adapter": str(out_dir / "train-float32-0")}


def part_generation(model: str, harmful: int, gsm8k: int, rounds: int, adapter: str | None) -> dict:
    common = {"which": "generation", "model": model, "harmful": harmful, "gsm8k": gsm8k}
    groups = [("base", None, True)] + ([("adapter merged", adapter, True), ("adapter unmerged", adapter, False)]
                                       if adapter else [])
    rows, summary = [], {}
    for label, adp, merge in groups:
        variants = [{**common, "adapter": adp, "merge": merge, "dtype": d} for d in ("float32", "bfloat16")]
        if label == "adapter unmerged":  # the float32 reference is the merged adapter's (same function)
            variants = variants[1:]
        results = alternate({}, variants, rounds)
        if label == "adapter unmerged":
            ref = summary["adapter merged"]["float32"]
            results = [[ref]] + results
        fp32, bf16 = results[0][0], results[-1][0]
        n = len(fp32["outputs"])
        same = sum(fp32["outputs"][k] == bf16["outputs"].get(k) for k in fp32["outputs"])
        v32, v16 = refusal_verdicts(fp32["outputs"]), refusal_verdicts(bf16["outputs"])
        agree = sum(v32[k] == v16.get(k) for k in v32)
        wall = [sum(x["seconds"] for x in rs) / len(rs) for rs in results]
        cpu = [sum(x["cpu_seconds"] for x in rs) / len(rs) for rs in results]
        summary[label] = {"float32": fp32, "ratio_wall": wall[0] / wall[-1], "ratio_cpu": cpu[0] / cpu[-1],
                          "identical": same, "n": n, "verdicts_agree": agree, "verdicts": len(v32),
                          "asr_fp32": sum(not x for x in v32.values()) / max(len(v32), 1),
                          "asr_bf16": sum(not x for x in v16.values()) / max(len(v16), 1)}
        s = summary[label]
        rows.append([label, f"{wall[0]:.1f}", f"{wall[-1]:.1f}", f"{cpu[0]:.1f}", f"{cpu[-1]:.1f}",
                     f"{s['ratio_wall']:.2f}x", f"{s['ratio_cpu']:.2f}x", f"{same}/{n}", f"{agree}/{len(v32)}",
                     f"{100 * s['asr_fp32']:.1f} / {100 * s['asr_bf16']:.1f}"])
    print_table(["model", "fp32 s", "bf16 s", "fp32 CPU s", "bf16 CPU s", "speed (wall)", "speed (CPU)",
                 "identical outputs", "refusal verdicts agree", "attack success % fp32 / bf16"], rows)
    return {k: {kk: vv for kk, vv in v.items() if kk != "float32"} for k, v in summary.items()}


def part_startup(model: str, rounds: int) -> dict:
    times = {d: [] for d in ("float32", "bfloat16")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for d in (("float32", "bfloat16") if r % 2 == 0 else ("bfloat16", "float32")):
                out = Path(tmp) / f"{d}-{r}.jsonl"
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "ptst", "generate", "--model", model, "--data", "builtin:harmful",
                                "--limit", "1", "--max-new-tokens", "1", "--template", "chat:vanilla", "--dtype", d,
                                "--out", str(out)],
                               check=True, capture_output=True)
                times[d].append(time.perf_counter() - start)
    rows = [[d, f"{min(v):.1f}", f"{sorted(v)[len(v) // 2]:.1f}"] for d, v in times.items()]
    print_table(["ptst generate --limit 1 --max-new-tokens 1", "best s", "median s"], rows)
    return {d: min(v) for d, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="tiny model and sizes: a smoke test, no timing claims")
    parser.add_argument("--model", default=QWEN)
    parser.add_argument("--harmful", type=int, default=200, help="AdvBench requests (48 new tokens)")
    parser.add_argument("--gsm8k", type=int, default=50, help="GSM8K test questions (320 new tokens)")
    parser.add_argument("--steps", type=int, default=20, help="training steps of 8 examples")
    parser.add_argument("--rounds", type=int, default=1, help="alternating repetitions of each timing")
    parser.add_argument("--threads", type=int, help="torch threads in every child (OMP_NUM_THREADS)")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated subset of: " + ", ".join(PARTS))
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.child:
        child = json.loads(args.child)
        print(json.dumps(CHILDREN[child["which"]](child)))
        return 0
    child_env(args.threads)
    if args.quick:
        args.model, args.harmful, args.gsm8k, args.steps = "embedded:tiny-random", 2, 1, 1
    parts = [p for p in args.only.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    from ptst.models.load import bf16_unit

    print(f"machine: {machine_line()}\nCPU bf16 unit: {bf16_unit('cpu') or 'none'}; threads: "
          f"{args.threads or 'torch default'}; model {args.model}\n", flush=True)
    results: dict = {"machine": machine_line(), "model": args.model}
    with tempfile.TemporaryDirectory() as tmp:
        if "ceiling" in parts:
            results["ceiling"] = part_ceiling(args.model, 5 if args.quick else 30)
        adapter = None
        if "training" in parts:
            results["training"] = part_training(args.model, args.steps, args.rounds, Path(tmp))
            adapter = results["training"]["adapter"]
        if "generation" in parts:
            results["generation"] = part_generation(args.model, args.harmful, args.gsm8k, args.rounds, adapter)
        if "startup" in parts:
            results["startup"] = part_startup(args.model, 1 if args.quick else 3)
    if args.quick:
        print("\n(--quick: a smoke test on a random model; no timing claims)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
