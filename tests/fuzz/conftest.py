"""The fuzzer's shared pieces: the in-process harness's fixtures, and a summary of the cases run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ptst.cli.main import main
from tests.fuzz.harness import LOG, bounded_compute  # noqa: F401  (an autouse fixture for every fuzz test)

_SECONDS = [0.0]  # the fuzz tests' own time (setup, call, teardown), not the session's
TINY = "embedded:tiny-random"
FINISHED_STUDY = {
    "name": "fuzzed", "model": TINY, "test_templates": ["chat:vanilla", "chat:llama"], "include_base": True,
    "train": {"data": "builtin:math", "limit": 4, "templates": ["chat:vanilla"], "seeds": [0],
              "hyper": {"lora_r": 2, "lora_alpha": 4, "max_steps": 1, "batch_size": 4, "max_length": 128}},
    "evals": [{"name": "harmful", "data": "builtin:harmful", "limit": 2, "scorers": ["refusal-keywords"]},
              {"name": "math", "data": "builtin:math", "limit": 2, "scorers": ["gsm8k", "reference-similarity"]}],
    "decoding": {"max_new_tokens": 2}}


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """A finished tiny study (a training run, two evaluation sets, three scorers): its config and run directory."""
    root = tmp_path_factory.mktemp("fuzz-finished")
    (root / "study.yaml").write_text(json.dumps(FINISHED_STUDY))
    assert main(["run", str(root / "study.yaml"), "--out", str(root / "run"), "--no-progress"]) == 0
    return root / "study.yaml", root / "run"


def pytest_runtest_logreport(report):
    _SECONDS[0] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not LOG:
        return
    by_target: dict[str, Counter] = {}
    for target, code, _ in LOG:
        by_target.setdefault(target, Counter())[str(code)] += 1
    terminalreporter.write_line(f"fuzz: {len(LOG)} cases in {_SECONDS[0]:.0f} s; exit codes by "
                                "target: " + "; ".join(f"{t} " + " ".join(f"{k}x{v}" for k, v in sorted(c.items()))
                                                       for t, c in sorted(by_target.items())))
