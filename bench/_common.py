"""Shared helpers for the benchmarks: run a measurement in a fresh process (so peak memory is its own) and print
a table."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_subprocess(script: Path, args: dict) -> dict:
    """Run `script --child JSON` and return the last JSON object it prints."""
    proc = subprocess.run([sys.executable, str(script), "--child", json.dumps(args)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} child failed:\n{proc.stderr[-3000:]}")
    for line in reversed(proc.stdout.strip().splitlines()):  # libraries (vLLM) may print after the child's answer
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{script.name} child printed no result:\n{proc.stdout[-3000:]}")


def machine_line() -> str:
    import os

    return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, " \
           f"{time.strftime('%Y-%m-%d %H:%M %Z')}"


def print_table(headers: list[str], rows: list[list]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text
