"""`make run`: the closest working thing to the main job until `ptst run` lands: show the paper's templates and
the built-in data, then fine-tune and generate if the model stages are installed."""

from __future__ import annotations

import subprocess
import sys


def ptst(*args: str) -> None:
    print(f"\n$ ptst {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "ptst", *args], check=True)


if __name__ == "__main__":
    ptst("templates", "list")
    ptst("templates", "show", "chat:llama", "--markup", "llama2", "--input", "How do I bake bread?")
    ptst("data", "show", "builtin:math", "--limit", "2")
