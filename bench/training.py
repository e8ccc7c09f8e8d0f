"""Training benchmark: tokens/s of `ptst train`'s data path against a plain padded loop, same model and data.

The loops (`--loops`, a comma-separated subset of their names; each name is one word):
  plain           examples in data order, every batch padded to the longest example of the whole set (the common
                  "pad to max_length" recipe), every position projected onto the vocabulary
  grouped         length-grouped batches padded only to their own longest example, every position projected
                  (ptst's default before 2026-11-30)
  packed          the grouped batches packed into one row each: no padding, attention kept within each example
                  (`ptst train --packing`)
  trained-logits  the grouped batches with only the positions whose next token is trained projected onto the
                  vocabulary (`ptst train`'s default since 2026-11-30)
All use the same LoRA model, optimiser and number of steps and count real (non-padding) tokens per second; the
table also counts the positions each loop projected onto the vocabulary, so a row's label can be checked against
what it ran. `--template` picks the training template (chat:llama, as in the default study, has long prompts).

    python bench/training.py            # SmolLM2, 64 GSM8K examples, 8 steps of 8
    python bench/training.py --model embedded:qwen2.5-coder-0.5b-instruct --n 32 --template chat:llama
    python bench/training.py --quick    # tiny model, a smoke test
    python bench/training.py --ab --n 16 --template chat:llama   # ptst vs trained logits, interleaved

`--ab` times one forward and backward pass per batch with full logits and with trained logits only, alternating
in one process on the same batches (no optimiser step), so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, in_subprocess, machine_line, peak_rss_mb, print_table  # noqa: E402

# name -> how it batches (pad_to_longest; otherwise length-grouped) and make_collator's options; a name never
# holds the `--loops` separator
LOOPS = {
    "plain": {"pad_to_longest": True},
    "grouped": {},
    "packed": {"packing": True},
    "trained-logits": {"trained_logits_only": True},
}


def parse_loops(text: str) -> list[str]:
    """`--loops plain,trained-logits` -> the names, each checked against LOOPS."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOOPS]
    if unknown or not names:
        raise ValueError(f"--loops {text!r}: unknown loop {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(LOOPS)}")
    return names


def _projected(inputs: dict) -> int:
    """Positions this batch projects onto the vocabulary."""
    keep = inputs.get("logits_to_keep")
    return int(inputs["input_ids"].numel() if keep is None else keep.sum())


def run(args: dict) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from ptst.data import load_items
    from ptst.models import load_model
    from ptst.templates import get_template
    from ptst.train.examples import build_examples, make_collator

    torch.manual_seed(0)
    loaded = load_model(args["model"], for_training=True)
    loaded.model.config.use_cache = False  # as `ptst train` does
    items = load_items("gsm8k", data_file=str(SHARED / "gsm8k/train.jsonl"), limit=args["n"], seed=0)
    examples, _ = build_examples(items, get_template(args["template"]), loaded.tokenizer, max_length=512)
    model = get_peft_model(loaded.model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj",
                                                                                       "v_proj", "o_proj"]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    feats = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    bs = args["batch_size"]
    options = dict(LOOPS.get(args["which"], {}))  # "ab": the grouped batches
    pad_to_longest = options.pop("pad_to_longest", False)
    collate = make_collator(loaded.tokenizer.pad_token_id, **options)
    if pad_to_longest:
        longest = max(len(f["input_ids"]) for f in feats)
        pad = [{"input_ids": f["input_ids"] + [loaded.tokenizer.pad_token_id] * (longest - len(f["input_ids"])),
                "labels": f["labels"] + [-100] * (longest - len(f["labels"]))} for f in feats]
        batches = [pad[k:k + bs] for k in range(0, len(pad), bs)]
    else:
        order = list(LengthGroupedSampler(bs, lengths=[len(f["input_ids"]) for f in feats],
                                          generator=torch.Generator().manual_seed(0)))
        batches = [[feats[i] for i in order[k:k + bs]] for k in range(0, len(order), bs)]
    real = sum(len(f["input_ids"]) for f in feats)
    model.train()
    if args["which"] == "ab":
        return _interleaved(model, batches, loaded.tokenizer.pad_token_id, args.get("rounds", 2))
    projected = 0
    start = time.perf_counter()
    for batch in batches:
        inputs = collate(batch)
        projected += _projected(inputs)
        loss = model(**inputs).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "real_tokens": real, "peak_mb": peak_rss_mb(), "steps": len(batches),
            "projected": projected}


def _interleaved(model, batches, pad: int, rounds: int) -> dict:
    """Seconds of forward + backward per variant, alternating the two variants batch by batch."""
    from ptst.train.examples import make_collator

    collators = {"full logits": make_collator(pad), "trained logits": make_collator(pad, trained_logits_only=True)}
    seconds = {name: [] for name in collators}
    for _ in range(rounds):
        for batch in batches:
            for name, collate in collators.items():
                inputs = collate(batch)
                start = time.perf_counter()
                model(**inputs).loss.backward()
                seconds[name].append(time.perf_counter() - start)
                model.zero_grad()
    kept = sum(int(make_collator(pad, trained_logits_only=True)(b)["logits_to_keep"].sum()) for b in batches)
    positions = sum(len(f["input_ids"]) for b in batches for f in b)
    return {"seconds": seconds, "kept_positions": kept, "positions": positions, "peak_mb": peak_rss_mb()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--n", type=int, default=64, help="training examples (batches of 8)")
    parser.add_argument("--template", default="chat:vanilla")
    parser.add_argument("--loops", default=",".join(LOOPS), help="comma-separated subset of: " + ",".join(LOOPS))
    parser.add_argument("--ab", action="store_true", help="full vs trained logits, interleaved (see above)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(json.loads(args.child))))
        return 0
    model, n = ("embedded:tiny-random", 16) if args.quick else (args.model, args.n)
    if args.ab:
        return _main_ab(model, n, args.template)
    try:
        loops = parse_loops(args.loops)
    except ValueError as err:
        parser.error(str(err))
    print(f"machine: {machine_line()}\nmodel {model}, {n} GSM8K training examples under {args.template}, batch 8, "
          "LoRA r=8\n")
    results = {w: in_subprocess(Path(__file__), {"model": model, "n": n, "batch_size": 8, "which": w,
                                                 "template": args.template}) for w in loops}
    rows = [[w, r["steps"], f"{r['seconds']:.1f}", f"{r['real_tokens'] / r['seconds']:.0f}", r["real_tokens"],
             r["projected"], f"{r['peak_mb']:.0f}"] for w, r in results.items()]
    print_table(["loop", "steps", "seconds", "real tokens/s", "real tokens", "positions projected", "peak MB"], rows)
    base = "plain" if "plain" in results else loops[0]
    for w in loops:
        if w != base:
            print(f"{w} / {base} throughput: {results[base]['seconds'] / results[w]['seconds']:.2f}x")
    return 0


def _main_ab(model: str, n: int, template: str) -> int:
    import statistics

    print(f"machine: {machine_line()}\nmodel {model}, {n} GSM8K training examples under {template}, batch 8, "
          "LoRA r=8, forward + backward per batch, interleaved\n")
    r = in_subprocess(Path(__file__), {"model": model, "n": n, "batch_size": 8, "which": "ab", "template": template})
    full, trimmed = r["seconds"]["full logits"], r["seconds"]["trained logits"]
    print_table(["variant", "passes", "median s", "total s"],
                [[name, len(v), f"{statistics.median(v):.2f}", f"{sum(v):.1f}"] for name, v in r["seconds"].items()])
    ratios = [a / b for a, b in zip(full, trimmed, strict=True)]
    print(f"positions projected onto the vocabulary: {r['kept_positions']} of {r['positions']}")
    print(f"full / trained-logits time per pass: median {statistics.median(ratios):.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}), total {sum(full) / sum(trimmed):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
