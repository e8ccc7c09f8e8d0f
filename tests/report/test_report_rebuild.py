"""A run directory is self-sufficient: `ptst report RUN_DIR` rebuilds the report from it alone, even after the
study's template file has moved, and no command leaves its user templates registered for the next."""

from __future__ import annotations

import shutil

import pytest

from ptst.cli.main import main
from ptst.templates import templates
from tests.conftest import run_cli

TEMPLATE = """templates:
  - name: chat:plain-question
    mode: chat
    system: ""
    user: "Q: {input}"
"""

STUDY = """name: yaml-template
model: embedded:tiny-random
template_files: [mine.yaml]
include_base: false
train:
  data: builtin:math
  limit: 4
  templates: [chat:plain-question]
  hyper: {lora_r: 2, lora_alpha: 4, max_steps: 1, batch_size: 4, max_length: 128}
test_templates: [chat:plain-question, chat:llama]
evals:
  - {name: harmful, data: builtin:harmful, limit: 2, scorers: [refusal-keywords]}
decoding: {max_new_tokens: 2}
"""


@pytest.mark.slow  # a study run
def test_report_rebuilds_from_the_run_directory_after_the_template_file_moved(tmp_path):
    (tmp_path / "mine.yaml").write_text(TEMPLATE)
    (tmp_path / "study.yaml").write_text(STUDY)
    run = tmp_path / "run"
    r = run_cli("run", str(tmp_path / "study.yaml"), "--out", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    first = (run / "results.md").read_text()
    shutil.move(tmp_path / "mine.yaml", tmp_path / "elsewhere.yaml")
    (run / "results.md").unlink()
    r = run_cli("report", str(run))
    assert r.returncode == 0, r.stderr[-3000:]
    again = (run / "results.md").read_text()
    assert again == first
    # trained with no system prompt, tested with Llama-2's safety prompt: the PTST cell, in bold
    row = next(line for line in again.splitlines() if line.startswith("| `chat:plain-question` |"))
    assert row.count("**") == 2 and row.split("|")[2].strip().startswith("_")  # diagonal in italics


def test_a_command_leaves_no_user_template_registered(tmp_path):
    (tmp_path / "mine.yaml").write_text(TEMPLATE)
    assert main(["templates", "show", "chat:plain-question", "--template-file", str(tmp_path / "mine.yaml"),
                 "--markup", "llama2", "--input", "hi"]) == 0
    assert "chat:plain-question" not in templates
    assert main(["templates", "show", "chat:plain-question", "--markup", "llama2"]) == 2
