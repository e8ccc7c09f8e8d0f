"""Shared fixtures: paths to the real data sets beside the checkout, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PTST_SHARED_DATA") or ROOT.parent / "shared" / "data")
STRONGREJECT_DATA = ROOT / "tests" / "data" / "strongreject"  # upstream texts, see its README.md


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"the shared data sets are expected at {SHARED_DATA}"
    return SHARED_DATA


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600):
    """Run the real `ptst` entry point in a subprocess; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "ptst", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


@pytest.fixture(scope="session")
def smol_tokenizer():
    """The real SmolLM2-135M-Instruct tokenizer and chat template (prepared into the cache on first use)."""
    from ptst.models import load_tokenizer

    return load_tokenizer("embedded:smollm2-135m-instruct")


@pytest.fixture(scope="session")
def smol_model():
    """SmolLM2 in float32, the exact reference the engine-equality tests compare against (`auto` means bfloat16
    on a CPU with a bf16 unit, where batched and unbatched greedy answers may differ in near-ties)."""
    from ptst.models import load_model

    return load_model("embedded:smollm2-135m-instruct", dtype="float32")


@pytest.fixture(scope="session")
def tiny_path() -> str:
    from ptst.models import prepare

    return str(prepare("embedded:tiny-random"))
