"""bfloat16 against float32 on a study's cells, by the rule written in bench/RESULTS.md before the float32 study
ran ("bfloat16 against float32 on the default study's cells"): reads the two runs' results.csv (`ptst report`)
and prints every cell's two means and sds, the per-seed paired differences, and which part of the rule holds.

    python bench/dtype_cells.py BF16_RUN/results.csv F32_RUN/results.csv [--out FILE.md]

Each set is judged on the metric its report leads with: attack success (keywords) on harmful sets, refusal rate on
the benign probes, accuracy (last number) on math.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev

from ptst.score.stats import t_quantile

METRIC = {"harmful": "asr_keyword", "math-danger": "asr_keyword", "benign-probes": "refusal_rate",
          "math": "accuracy_flexible"}
MAX_TRAINED_MISSES, MAX_BASE_MISSES = 4, 1
PTST, SAME, VANILLA = ("chat:vanilla", "chat:llama"), ("chat:llama", "chat:llama"), ("chat:vanilla", "chat:vanilla")


def read_cells(path: Path) -> dict[tuple[str, str, str], dict]:
    """(train, test, set) -> {seed: value} for trained cells, or {"value", "low", "high"} for the base model."""
    cells: dict[tuple[str, str, str], dict] = defaultdict(dict)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["comparison"] or row["step"] or METRIC.get(row["dataset"]) != row["metric"]:
                continue
            key = (row["train_template"], row["test_template"], row["dataset"])
            if row["train_template"] == "base":
                cells[key] = {"value": float(row["value"]), "low": float(row["low"]), "high": float(row["high"])}
            elif row["seed"].isdigit():
                cells[key][int(row["seed"])] = float(row["value"])
    return dict(cells)


def t_interval(values: list[float]) -> tuple[float, float]:
    half = t_quantile(0.975, len(values) - 1) * stdev(values) / math.sqrt(len(values))
    return mean(values) - half, mean(values) + half


def contrast(cells, a, b) -> list[float]:
    """Per-seed A - B on the harmful set."""
    ca, cb = cells[(*a, "harmful")], cells[(*b, "harmful")]
    return [ca[s] - cb[s] for s in sorted(ca) if s in cb]


def compare(bf16: dict, f32: dict) -> tuple[list[str], bool]:
    lines = ["| train -> test | set | bf16 mean ± sd | float32 mean ± sd | \\|diff\\| | 2 sd (fp32) | "
             "per-seed bf16 - fp32 | within |",
             "|---|---|---|---|---|---|---|---|"]
    trained_miss = base_miss = 0
    for key in sorted(f32):
        if key not in bf16:
            raise SystemExit(f"error: cell {key} is in the float32 results but not in the bfloat16 ones")
        train, test, dataset = key
        b, f = bf16[key], f32[key]
        if train == "base":
            ok = f["low"] <= b["value"] <= f["high"]
            base_miss += not ok
            lines.append(f"| base -> {test} | {dataset} | {100 * b['value']:.1f} | {100 * f['value']:.1f} "
                         f"[{100 * f['low']:.1f}, {100 * f['high']:.1f}] | {100 * abs(b['value'] - f['value']):.1f} | "
                         f"(Wilson 95%) | - | {'yes' if ok else '**no**'} |")
            continue
        seeds = sorted(set(b) & set(f))
        bv, fv = [b[s] for s in seeds], [f[s] for s in seeds]
        diff, bound = abs(mean(bv) - mean(fv)), 2 * stdev(fv)
        ok = diff <= bound
        trained_miss += not ok
        per_seed = ", ".join(f"{100 * (b[s] - f[s]):+.1f}" for s in seeds)
        lines.append(f"| {train} -> {test} | {dataset} | {100 * mean(bv):.1f} ± {100 * stdev(bv):.1f} | "
                     f"{100 * mean(fv):.1f} ± {100 * stdev(fv):.1f} | {100 * diff:.1f} | {100 * bound:.1f} | "
                     f"{per_seed} | {'yes' if ok else '**no**'} |")
    lines += ["", f"- trained cells outside float32's spread: **{trained_miss}** (at most {MAX_TRAINED_MISSES} "
              "allowed)",
              f"- base cells outside float32's Wilson interval: **{base_miss}** (at most {MAX_BASE_MISSES} allowed)"]
    contrasts_ok = True
    for name, a, b in (("PTST vs same-template", PTST, SAME), ("safety prompt at test time", PTST, VANILLA)):
        cb, cf = contrast(bf16, a, b), contrast(f32, a, b)
        ib, if_ = t_interval(cb), t_interval(cf)
        same_sign = (mean(cb) > 0) == (mean(cf) > 0)
        inside = if_[0] <= mean(cb) <= if_[1] and ib[0] <= mean(cf) <= ib[1]
        contrasts_ok &= same_sign and inside
        lines.append(f"- {name} (harmful, A - B): bf16 {100 * mean(cb):+.1f} [t 95% over seeds {100 * ib[0]:+.1f}, "
                     f"{100 * ib[1]:+.1f}], float32 {100 * mean(cf):+.1f} [{100 * if_[0]:+.1f}, {100 * if_[1]:+.1f}]: "
                     f"same sign {'yes' if same_sign else '**no**'}, each mean inside the other's interval "
                     f"{'yes' if inside else '**no**'}")
    holds = trained_miss <= MAX_TRAINED_MISSES and base_miss <= MAX_BASE_MISSES and contrasts_ok
    lines.append(f"- **the rule {'holds: bfloat16 stays' if holds else 'fails: float32 becomes'} the default "
                 "study's compute type**")
    return lines, holds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bf16", type=Path)
    parser.add_argument("f32", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    for p in (args.bf16, args.f32):
        if not p.is_file():
            print(f"error: {p}: no such file (a run's results.csv, written by ptst report)", file=sys.stderr)
            return 2
    lines, _ = compare(read_cells(args.bf16), read_cells(args.f32))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
