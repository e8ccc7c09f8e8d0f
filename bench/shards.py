"""Shards benchmark: the calibrated `--dry-run` estimate of each shard against its measured time, and the size of
a run directory reduced to what the report needs (`--keep-adapters no`) per 1,000 samples.

    python bench/shards.py                          # bench/shards-study.yaml in 3 shards, runs/bench-shards
    python bench/shards.py --config configs/smoke.yaml --shards 3 --out /tmp/smoke-shards

Each shard runs as `ptst run CONFIG --shard K/N --keep-adapters no` in a fresh process, one after another; its
store keeps its measured time beside the estimate it started with (from this machine's cached calibration, made by
the dry run first). The machine's load average is printed before and after: on a shared machine both the
calibration and the shards slow down with it, not necessarily alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine_line, print_table  # noqa: E402


def ptst(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ptst", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ptst {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def session(run_dir: Path) -> dict:
    db = sqlite3.connect(run_dir / "store.sqlite")
    sessions = json.loads(db.execute("SELECT value FROM meta WHERE key = 'sessions'").fetchone()[0])
    samples = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    db.close()
    return {**sessions[-1], "samples": samples}


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(ROOT / "bench" / "shards-study.yaml"))
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-shards"))
    args = parser.parse_args()
    out = Path(args.out)
    print(f"# {machine_line()}, load average before {os.getloadavg()}")
    dry = ptst("run", args.config, "--dry-run", "--shards", str(args.shards))
    print(dry.stdout)
    print("\n".join(line for line in dry.stderr.splitlines() if "time estimate" in line))
    rows = []
    for k in range(1, args.shards + 1):
        run_dir = out / f"shard-{k}"
        started = time.time()
        ptst("run", args.config, "--shard", f"{k}/{args.shards}", "--out", str(run_dir), "--keep-adapters", "no",
             "--no-progress")
        wall = time.time() - started
        s = session(run_dir)
        est = s.get("estimate_s")
        rows.append([f"{k}/{args.shards}", f"{est:.0f}" if est else "-", f"{s['seconds']:.0f}", f"{wall:.0f}",
                     f"{100 * (est / s['seconds'] - 1):+.0f}%" if est else "-", str(s["samples"]),
                     f"{size(run_dir) / 1e6:.2f}", f"{size(run_dir) / s['samples'] * 1000 / 1e6:.2f}",
                     f"{os.getloadavg()[0]:.1f}"])
    print_table(["shard", "estimate s", "run s", "process s", "error", "samples", "dir MB", "MB per 1k samples",
                 "load (1 min)"], rows)
    merged = out / "merged"
    print(ptst("merge", *[str(out / f"shard-{k}") for k in range(1, args.shards + 1)], "--into", str(merged),
               "--require-complete").stdout)
    print(f"# load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
