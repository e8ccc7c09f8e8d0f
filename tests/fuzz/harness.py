"""Run one fuzzed command in-process and check what every command promises for any input: exit 0 or 2, on exit 2
at most two lines on stderr, no traceback, and every file that was there before byte-identical (on exit 0, the
files the command exists to rewrite excepted: a resumed run's manifest, a report's own pages).

Compute is bounded: a training step past COMPUTE_STEPS stops the command (`ComputeReached`), which counts as
accepted input, so a mutation such as `max_steps: 2**31` costs seconds, not days."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ptst.cli.main import main

COMPUTE_STEPS = 3
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                      HealthCheck.data_too_large, HealthCheck.filter_too_much])
# `make test`: seeded (derandomize) and small; `make fuzz` (PTST_FUZZ=N): N times the examples, random seeds
FACTOR = int(os.environ.get("PTST_FUZZ") or 0)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **SETTINGS)
settings.register_profile("fuzz", derandomize=False, print_blob=True, **SETTINGS)
settings.load_profile("fuzz" if FACTOR else "ci")
LOG: list[tuple[str, object]] = []  # (target, outcome) of every case run, for the session's summary


def examples(n: int) -> int:
    return n * FACTOR if FACTOR else n


class ComputeReached(Exception):
    """The input passed every check and training ran past COMPUTE_STEPS steps."""


@pytest.fixture(autouse=True)
def bounded_compute(monkeypatch):
    from transformers import Trainer

    step = Trainer.training_step
    count = {"n": 0}

    def guarded(self, *args, **kwargs):
        count["n"] += 1
        if count["n"] > COMPUTE_STEPS:
            raise ComputeReached
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", guarded)
    yield count


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def run_case(target: str, argv: list[str], root: Path, *, rewrites: Iterable[str] = (), guard=None) -> int | str:
    """Run `ptst ARGV` in-process under the promises above; returns the exit code ('compute' when stopped)."""
    before = snapshot(root)
    if guard is not None:
        guard["n"] = 0
    # as a terminal's: text that UTF-8 cannot encode fails on stdout, and is escaped on stderr
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    here = os.getcwd()
    os.chdir(root)  # a relative path in a mutated flag lands in the case's own directory
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code: int | str = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    except ComputeReached:
        code = "compute"
    finally:
        os.chdir(here)
    err.flush()
    text = err.buffer.getvalue().decode("utf-8")
    LOG.append((target, code, text.strip().splitlines()[-1:] if text.strip() else ""))
    shown = f"ptst {' '.join(map(str, argv))[:300]}\n{text[-3000:]}"
    assert "Traceback" not in text, shown
    assert code in (0, 2, "compute"), shown
    if code == 2:
        lines = text.strip().splitlines()
        assert 1 <= len(lines) <= 2, shown
    for path, data in before.items():
        if code != 2 and any(path.match(pattern) for pattern in rewrites):
            continue
        assert path.is_file() and path.read_bytes() == data, f"{path} was changed\n{shown}"
    return code
