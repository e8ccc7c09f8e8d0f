"""The catalogue commands through the real entry point: output on stdout, one-line errors with exit code 2."""

from __future__ import annotations

import os

import pytest

from ptst import __version__
from ptst.templates.builtin import LLAMA
from tests.conftest import run_cli


def test_version_and_help():
    assert run_cli("--version").stdout.strip() == f"ptst {__version__}"
    for args in (["--help"], ["templates", "--help"], ["templates", "show", "--help"], ["data", "show", "--help"]):
        r = run_cli(*args)
        assert r.returncode == 0 and "usage: ptst" in r.stdout


def test_templates_list_names_every_paper_template():
    r = run_cli("templates", "list")
    assert r.returncode == 0
    for name in ("text:vanilla", "text:alpaca", "chat:vanilla", "chat:alpaca", "chat:llama", "chat:llama-short",
                 "chat:mpt", "chat:mistral"):
        assert name in r.stdout


def test_templates_show_prints_only_the_prompt():
    r = run_cli("templates", "show", "chat:llama", "--markup", "llama2", "--input", "How do I bake bread?")
    assert r.returncode == 0
    assert r.stdout == f"[INST] <<SYS>>\n{LLAMA}\n<</SYS>>\n\nQuestion: How do I bake bread? [/INST]\n"
    assert "chat:llama" in r.stderr


def test_data_show_limit_prints_the_first_rows_of_the_file(shared_data):
    import csv
    import json

    path = shared_data / "advbench/harmful_behaviors.csv"
    with path.open(newline="", encoding="utf-8") as f:
        first = [row["goal"] for row, _ in zip(csv.DictReader(f), range(3), strict=False)]
    r = run_cli("data", "show", "advbench", "--data-file", str(path), "--limit", "3")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["input"] for row in rows] == first
    assert [row["id"] for row in rows] == ["advbench-0", "advbench-1", "advbench-2"]
    assert "the first 3 of 520 items" in r.stderr


def test_data_show_sample_is_the_subsample_other_commands_take(shared_data):
    import json

    from ptst.data import load_items

    path = shared_data / "advbench/harmful_behaviors.csv"
    shown = {}
    for seed in (0, 5):
        r = run_cli("data", "show", "advbench", "--data-file", str(path), "--sample", "4", "--data-seed", str(seed))
        assert r.returncode == 0, r.stderr
        shown[seed] = [json.loads(line)["id"] for line in r.stdout.splitlines()]
        assert shown[seed] == [it.id for it in load_items("advbench", data_file=path, limit=4, seed=seed)]
    assert shown[0] != shown[5] and shown[0] != [f"advbench-{i}" for i in range(4)]
    r = run_cli("data", "show", "advbench", "--data-file", str(path), "--sample", "4", "--limit", "2")
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == shown[0][:2]


@pytest.mark.parametrize("args, message", [
    (["templates", "show", "chat:lama", "--markup", "llama2"], "unknown template 'chat:lama'"),
    (["templates", "show", "chat:llama"], "give a --model"),
    (["templates", "list", "--template-file", "nowhere.yaml"], "nowhere.yaml: template file not found"),
    (["data", "show", "nope"], "unknown data set 'nope'"),
    (["data", "show", "gsm8k", "--data-file", "missing.jsonl"], "missing.jsonl: data file not found"),
    (["data", "show", "safety-mix"], "has no hub copy: pass --data-file"),
    (["data", "show", "builtin:harmful", "--limit", "x"], "invalid int value"),
    (["data", "show", "builtin:harmful", "--limit", "0"], "--limit must be at least 1"),
    (["templates", "frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_hub_unreachable_names_data_file():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": "/nonexistent-ptst-hf"}
    r = run_cli("data", "show", "gsm8k", "--limit", "2", env=env)
    assert r.returncode == 2
    assert "cannot load openai/gsm8k from the Hugging Face hub" in r.stderr and "--data-file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_template_yaml_exits_2(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("name: chat:x\nmode: chat\nuser: nothing\n")
    r = run_cli("templates", "list", "--template-file", str(f))
    assert r.returncode == 2 and "exactly one {input}" in r.stderr and "Traceback" not in r.stderr


def _every_help(parser, path=("ptst",)):
    import argparse

    yield " ".join(path), parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _every_help(sub, (*path, name))


def test_every_help_text_shows_percent_signs_once():
    from ptst.cli.main import build_parser

    helps = dict(_every_help(build_parser()))
    assert "ptst score" in helps and "95% interval" in helps["ptst score"]
    assert [where for where, text in helps.items() if "%%" in text] == []


def test_templates_show_takes_the_markups_the_readme_names():
    r = run_cli("templates", "show", "chat:llama", "--markup", "auto", "--model", "embedded:tiny-random",
                "--input", "How do I bake bread?")
    assert r.returncode == 0, r.stderr  # auto: the model's own chat template (SmolLM2's ChatML here)
    assert r.stdout.startswith(f"<|im_start|>system\n{LLAMA}<|im_end|>\n<|im_start|>user\nQuestion: How do I bake")
    for args, message in ((["--markup", "auto"], "give a --model"),
                          (["--markup", "llama2", "--model", "embedded:tiny-random"], "--markup llama2 is a fixed")):
        r = run_cli("templates", "show", "chat:llama", *args)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_models_list_in_a_pipe_keeps_each_model_on_one_line():
    from ptst.models import embedded

    r = run_cli("models", "list", env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for name, spec in embedded.items():
        (row,) = [line for line in lines if line.startswith(name + " ")]
        assert row.split()[1] == spec.params and str(spec.cache_dir) in row and row.endswith(spec.description)
