"""Generation benchmark: the paper's reference inference loop against `ptst generate` with its defaults.

Reference loop (as in the PTST authors' inference code): Hugging Face `generate`, prompts in data-set order,
fixed batches of 8, left padding, greedy, a fixed max new tokens. ptst: `ptst.generate.run_generation` with its
defaults (length-sorted fixed batches, the shared template prefix computed once, finished rows leaving).
Both run in fresh processes on the same prompts; the greedy outputs are compared.

    python bench/generation.py            # the full table (embedded SmolLM2 and Qwen, 64 prompts each workload)
    python bench/generation.py --quick    # a smoke test for CI: tiny model, 8 prompts, no timing claims
    python bench/generation.py --bf16     # also `ptst generate --dtype bfloat16`, its differences reported

The default rows must match the reference's greedy outputs (more than 1 in 20 differing is a failure); bfloat16
rows are an opt-in trade and are reported as measured, differences included.
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

WORKLOADS = {
    "advbench/chat:llama": {"data": "advbench", "data_file": str(SHARED / "advbench/harmful_behaviors.csv"),
                            "template": "chat:llama"},
    "gsm8k/chat:vanilla": {"data": "gsm8k", "data_file": str(SHARED / "gsm8k/test.jsonl"),
                           "template": "chat:vanilla"},
}
MAX_FAILED_SHARE = 1 / 20


def reference_loop(args: dict) -> dict:
    """The paper's loop: HF generate over data-set-order batches of 8."""
    import torch

    from ptst.data import load_items
    from ptst.models import load_model
    from ptst.models.engines import stop_token_ids
    from ptst.templates import get_template, render_prompt

    start = time.perf_counter()  # both sides are timed end to end: load, render, generate
    loaded = load_model(args["model"])
    tok = loaded.tokenizer
    tok.padding_side = "left"
    items = load_items(args["data"], data_file=args["data_file"], limit=args["n"], seed=0)
    texts = [render_prompt(get_template(args["template"]), it.input, tokenizer=tok).text for it in items]
    stops = stop_token_ids(tok)
    outputs, generated = {}, 0
    for k in range(0, len(texts), 8):
        batch = tok(texts[k:k + 8], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = loaded.model.generate(**batch, max_new_tokens=args["max_new_tokens"], do_sample=False,
                                        eos_token_id=stops, pad_token_id=tok.pad_token_id)
        for row, item in enumerate(items[k:k + 8]):
            new = out[row, batch["input_ids"].shape[1]:].tolist()
            cut = next((j for j, t in enumerate(new) if t in stops), len(new))
            outputs[item.id] = tok.decode(new[:cut], skip_special_tokens=True)
            generated += cut
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "tokens": generated, "peak_mb": peak_rss_mb(), "outputs": outputs}


def ptst_generate(args: dict) -> dict:
    from ptst.core.io import read_jsonl_rows
    from ptst.generate import GenerateConfig, run_generation

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "g.jsonl"
        cfg = GenerateConfig(model=args["model"], data=args["data"], data_file=args["data_file"], limit=args["n"],
                             template=args["template"], out=str(out), max_new_tokens=args["max_new_tokens"],
                             dtype=args.get("dtype", "auto"))
        start = time.perf_counter()
        run_generation(cfg, progress=False)
        seconds = time.perf_counter() - start
        rows = list(read_jsonl_rows(out))
    return {"seconds": seconds, "tokens": sum(r["output_tokens"] for r in rows), "peak_mb": peak_rss_mb(),
            "outputs": {r["id"]: r["output"] for r in rows}}


def measure(model: str, workload: str, n: int, max_new_tokens: int, dtypes: list[str]) -> list[dict]:
    """The reference loop once, then `ptst generate` under each dtype, all on the same prompts."""
    args = {"model": model, **WORKLOADS[workload], "n": n, "max_new_tokens": max_new_tokens}
    here = Path(__file__)
    ref = in_subprocess(here, {**args, "which": "reference"})
    out = []
    for dtype in dtypes:
        ours = in_subprocess(here, {**args, "which": "ptst", "dtype": dtype})
        differing = [k for k in ref["outputs"] if ref["outputs"][k] != ours["outputs"].get(k)]
        out.append({"dtype": dtype, "ref": ref, "ptst": ours, "differing": differing})
    return out


def table_row(model: str, workload: str, n: int, r: dict) -> list[str]:
    """One result row; prints the first differing sample, if any, so a difference can be read at once."""
    ref, ours = r["ref"], r["ptst"]
    if r["differing"]:
        k = r["differing"][0]
        print(f"  {model} {workload} {r['dtype']}: {len(r['differing'])}/{n} differ; first, sample {k}:\n"
              f"    reference: {ref['outputs'][k]!r}\n    ptst:      {ours['outputs'].get(k)!r}", flush=True)
    return [model.removeprefix("embedded:"), workload, "fp32" if r["dtype"] == "auto" else "bf16",
            f"{ref['seconds']:.1f}", f"{ours['seconds']:.1f}", f"{ref['tokens'] / ref['seconds']:.1f}",
            f"{ours['tokens'] / ours['seconds']:.1f}", f"{ref['peak_mb']:.0f}", f"{ours['peak_mb']:.0f}",
            f"{ref['seconds'] / ours['seconds']:.2f}x", f"{len(r['differing'])}/{n}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 8 prompts: a smoke test for CI")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--models", default="embedded:smollm2-135m-instruct,embedded:qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--bf16", action="store_true", help="also time `ptst generate --dtype bfloat16`")
    args = parser.parse_args()
    if args.child:
        child = json.loads(args.child)
        print(json.dumps((reference_loop if child["which"] == "reference" else ptst_generate)(child)))
        return 0
    models = ["embedded:tiny-random"] if args.quick else args.models.split(",")
    n, max_new = (8, 16) if args.quick else (args.n, args.max_new_tokens)
    print(f"machine: {machine_line()}\nprompts per workload: {n}, max new tokens: {max_new}, greedy\n")
    rows, failed = [], False
    dtypes = ["auto", "bfloat16"] if args.bf16 else ["auto"]
    for model in models:
        for workload in WORKLOADS:
            for r in measure(model, workload, n, max_new, dtypes):
                rows.append(table_row(model, workload, n, r))
                failed |= len(r["differing"]) / n > MAX_FAILED_SHARE and r["dtype"] == "auto" and not args.quick
    print()
    print_table(["model", "workload", "ptst dtype", "ref s", "ptst s", "ref tok/s", "ptst tok/s", "ref MB", "ptst MB",
                 "speed-up", "outputs differing"], rows)
    if args.quick:
        print("\n(--quick: a smoke test on a random model; near-ties make its outputs differ, no timing claims)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
