#!/usr/bin/env bash
# The check a maintainer runs on one CUDA GPU (tests and bars stay CPU-only): under 5 minutes, one verdict line.
#   bash bench/gpu_check.sh            # with ptst installed (pip install -e '.[dev]'; '.[vllm]' to check vLLM too)
# 1. the tiny random model fine-tuned (LoRA) in bfloat16 on the GPU: the loss must fall;
# 2. the ptst and hf engines generate with that adapter, greedy, float32: the outputs must be identical;
# 3. peak GPU memory of the whole check;
# 4. when vLLM is installed: `--engine vllm` on the same prompts and adapter (per-request LoRA), agreement counted.
# Exit status 0 when every check passes, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ptst-gpu-check.XXXXXX")"
export PTST_GPU_CHECK_DIR="$WORK"
cat > "$WORK/check.py" <<'EOF'
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("VERDICT: FAIL (no CUDA GPU visible to torch)")
        return 1
    from ptst.cli.main import main as ptst

    work, start = Path(os.environ["PTST_GPU_CHECK_DIR"]), time.time()
    adapter, checks = work / "adapter", {}
    common = ["--model", "embedded:tiny-random", "--data", "builtin:harmful", "--limit", "32", "--template",
              "chat:llama", "--max-new-tokens", "32", "--device", "cuda"]
    torch.cuda.reset_peak_memory_stats()
    rc = ptst(["train", "--model", "embedded:tiny-random", "--data", "builtin:math", "--limit", "64", "--template",
               "chat:vanilla", "--dtype", "bfloat16", "--device", "cuda", "--max-steps", "20", "--batch-size", "8",
               "--learning-rate", "5e-3", "--logging-steps", "1", "--out", str(adapter)])
    record = json.loads((adapter / "ptst_train.json").read_text()) if rc == 0 else {}
    losses = [row["loss"] for row in record.get("loss_curve", [])]
    checks["bf16 training, loss falls"] = rc == 0 and len(losses) >= 2 and losses[-1] < losses[0]
    dtype = record.get("config", {}).get("dtype")
    print(f"training: exit {rc}, dtype {dtype}, loss {losses[:1]} -> {losses[-1:]}", flush=True)
    outputs = {}
    for engine in ("ptst", "hf"):
        out = work / f"{engine}.jsonl"
        rc = ptst(["generate", *common, "--adapter", str(adapter), "--dtype", "float32", "--engine", engine,
                   "--out", str(out)])
        outputs[engine] = _outputs(out) if rc == 0 else {}
    same = sum(outputs["ptst"].get(k) == v for k, v in outputs["hf"].items())
    checks["ptst and hf engines agree (fp32, greedy)"] = bool(outputs["hf"]) and same == len(outputs["hf"])
    print(f"ptst vs hf: {same}/{len(outputs['hf'])} identical outputs", flush=True)
    peak = torch.cuda.max_memory_allocated() / 2**20
    print(f"peak GPU memory (torch, this process): {peak:.0f} MiB", flush=True)
    try:
        import vllm  # noqa: F401
    except ImportError:
        print("vllm: not installed, not checked (pip install -e '.[vllm]')")
    else:
        out = work / "vllm.jsonl"
        rc = ptst(["generate", *common, "--adapter", str(adapter), "--dtype", "float32", "--engine", "vllm",
                   "--out", str(out)])
        got = _outputs(out) if rc == 0 else {}
        agree = sum(got.get(k) == v for k, v in outputs["ptst"].items())
        checks["vllm generates with the adapter"] = rc == 0 and len(got) == len(outputs["ptst"])
        print(f"vllm vs ptst: {agree}/{len(outputs['ptst'])} identical outputs (vLLM's kernels differ; "
              "reported, not required)", flush=True)
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    verdict = all(checks.values())
    print(f"VERDICT: {'PASS' if verdict else 'FAIL'} in {time.time() - start:.0f} s "
          f"on {torch.cuda.get_device_name(0)}")
    return 0 if verdict else 1


def _outputs(path: Path) -> dict:
    return {row["id"]: row["output"] for row in map(json.loads, path.read_text().splitlines())}


if __name__ == "__main__":  # vLLM starts its workers with spawn
    sys.exit(main())
EOF
exec timeout 290 "$PYTHON" "$WORK/check.py"
