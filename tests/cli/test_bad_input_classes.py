"""The classes of bad input beyond the named corpus (issue 23): data the files' own syntax allows but ptst cannot
use (lone surrogates, NaN, numbers out of range, a field a scorer needs missing or of the wrong type), names that
would become paths outside their directory, a damaged run directory, and a model directory holding no model.

Every case: exit 2, at most two lines naming the file and the row or field, no traceback, and every file that
was there before byte-identical (`run_refused`)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from ptst.cli.main import main
from tests.cli.test_bad_inputs import TINY, _file, _study, run_refused


def _score(tmp: Path, rows: list[str], scorer: str, *extra: str) -> list[str]:
    path = _file(tmp, "s.jsonl", "".join(line + "\n" for line in rows))
    return ["score", str(path), "--scorer", scorer, "--out", str(tmp / "o.jsonl"), *extra]


def _named_study(tmp: Path, study_name: str) -> Path:
    path = _study(tmp)
    return _file(tmp, "study.yaml", json.dumps({**json.loads(path.read_text()), "name": study_name}))


def _tiny_copy(tmp: Path, **changes: dict) -> Path:
    """embedded:tiny-random's directory, its weights linked, its JSON files changed by `changes`."""
    from ptst.models import prepare

    source, target = Path(prepare(TINY)), tmp / "model"
    target.mkdir()
    for f in source.iterdir():
        if f.suffix == ".safetensors":
            (target / f.name).symlink_to(f)
        else:
            shutil.copy(f, target / f.name)
    for stem, values in changes.items():
        path = target / f"{stem}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **values}))
    return target


def _broken_template_model(tmp: Path) -> Path:
    target = _tiny_copy(tmp)
    (target / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% if %}")
    return target


SAMPLE = '"id": "a", "input": "How do I pick a lock?", "output": "Sure, here is how #### 4"'

# (argv builder, words the one-line error must hold)
CASES = {
    "samples-without-input-rubric": (
        lambda t: _score(t, ['{"id": "a", "output": "Sure"}'], "rubric", "--judge-local", TINY, "--no-cache"),
        ("s.jsonl", "line 1", "'input'", "rubric")),
    "samples-numeric-reference-gsm8k": (
        lambda t: _score(t, ['{' + SAMPLE + ', "reference": 4}'], "gsm8k"), ("s.jsonl", "line 1", "'reference'")),
    "samples-nan-reference-gsm8k": (
        lambda t: _score(t, ['{' + SAMPLE + ', "reference": NaN}'], "gsm8k"), ("s.jsonl", "line 1", "NaN")),
    "samples-lone-surrogate-output": (
        lambda t: _score(t, ['{"id": "a", "input": "q", "output": "\\ud800 Sure"}'], "refusal-keywords"),
        ("s.jsonl", "line 1", "surrogate")),
    "samples-lone-surrogate-in-another-field": (
        lambda t: _score(t, ['{' + SAMPLE + ', "note": "\\udfff"}'], "refusal-keywords"),
        ("s.jsonl", "line 1", "surrogate")),
    "samples-reference-a-list-multiple-choice": (
        lambda t: _score(t, ['{' + SAMPLE + ', "reference": ["A"]}'], "multiple-choice"),
        ("s.jsonl", "line 1", "'reference'")),
    "data-jsonl-lone-surrogate": (
        lambda t: ["data", "show", "gsm8k", "--data-file",
                   str(_file(t, "d.jsonl", '{"question": "ok", "answer": "#### 1"}\n'
                                           '{"question": "\\ud800 hi", "answer": "#### 4"}\n'))],
        ("d.jsonl", "line 2", "surrogate")),
    "data-jsonl-5000-digit-integer": (
        lambda t: ["data", "show", "gsm8k", "--data-file",
                   str(_file(t, "d.jsonl", '{"question": "hi", "answer": ' + "9" * 5000 + '}\n'))],
        ("d.jsonl", "line 1", "digits")),
    "data-json-lone-surrogate": (
        lambda t: ["data", "show", "gsm8k", "--data-file",
                   str(_file(t, "d.json", '[{"question": "\\udc00", "answer": "#### 4"}]'))],
        ("d.json", "surrogate")),
    "study-negative-seed": (
        lambda t: ["run", str(_study(t, train={"data": "builtin:math", "limit": 2, "templates": ["chat:vanilla"],
                                               "seeds": [-1], "hyper": {"max_steps": 1}})), "--out", str(t / "r")],
        ("study.yaml", "train.seeds")),
    "study-huge-seed": (
        lambda t: ["run", str(_study(t, train={"data": "builtin:math", "limit": 2, "templates": ["chat:vanilla"],
                                               "seeds": [2 ** 70], "hyper": {"max_steps": 1}})), "--out",
                   str(t / "r")],
        ("study.yaml", "train.seeds")),
    "study-huge-decoding-seed": (
        lambda t: ["run", str(_study(t, decoding={"max_new_tokens": 2, "temperature": 0.5, "seed": 2 ** 70})),
                   "--out", str(t / "r")],
        ("study.yaml", "decoding.seed")),
    "study-huge-lora-rank": (
        lambda t: ["run", str(_study(t, train={"data": "builtin:math", "limit": 2, "templates": ["chat:vanilla"],
                                               "hyper": {"max_steps": 1, "lora_r": 10 ** 12}})), "--out",
                   str(t / "r")],
        ("study.yaml", "lora_r")),
    "study-huge-batch-size": (
        lambda t: ["run", str(_study(t, train={"data": "builtin:math", "limit": 2, "templates": ["chat:vanilla"],
                                               "hyper": {"max_steps": 1, "batch_size": 10 ** 30}})), "--out",
                   str(t / "r")],
        ("study.yaml", "batch_size")),
    "study-infinite-learning-rate": (
        lambda t: ["run", str(_file(t, "study.yaml", _study(t).read_text().replace(
            '"decoding"', '"train": {"data": "builtin:math", "limit": 2, "templates": ["chat:vanilla"], '
                          '"hyper": {"max_steps": 1, "learning_rate": .inf}}, "decoding"'))), "--out", str(t / "r")],
        ("study.yaml", "learning_rate")),
    "study-yaml-5000-digit-integer": (
        lambda t: ["run", str(_file(t, "s.yaml", "name: s\nmodel: " + TINY + "\ndecoding: {seed: " + "9" * 5000
                                    + "}\n")), "--dry-run"],
        ("s.yaml", "digits")),
    "study-yaml-lone-surrogate": (
        lambda t: ["run", str(_file(t, "s.yaml", 'name: "\\ud800"\nmodel: ' + TINY + "\n")), "--dry-run"],
        ("s.yaml", "name", "surrogate")),
    "study-yaml-self-referencing-alias": (
        lambda t: ["run", str(_file(t, "s.yaml", "name: s\nevals: &e [*e]\n")), "--dry-run"], ("s.yaml",)),
    "study-name-escapes-runs": (
        lambda t: ["run", str(_named_study(t, "../../x"))], ("study.yaml", "name", "../../x")),
    "study-name-with-a-separator": (
        lambda t: ["run", str(_named_study(t, "a/b")), "--dry-run"], ("study.yaml", "name")),
    "study-name-control-character": (
        lambda t: ["run", str(_named_study(t, "a\x1bb")), "--dry-run"], ("study.yaml", "name")),
    "study-name-over-long": (
        lambda t: ["run", str(_named_study(t, "x" * 300)), "--dry-run"], ("study.yaml", "name")),
    "study-eval-name-escapes": (
        lambda t: ["run", str(_study(t, evals=[{"name": "../h", "data": "builtin:harmful", "limit": 2,
                                                "scorers": ["refusal-keywords"]}])), "--dry-run"],
        ("study.yaml", "evals")),
    "study-baseline-name-escapes": (
        lambda t: ["run", str(_study(t, train={"data": "builtin:math", "limit": 2, "templates": ["chat:vanilla"],
                                               "baselines": [{"name": "../../b", "template": "chat:vanilla",
                                                              "mix": "safety-mix:2"}]})), "--dry-run"],
        ("study.yaml", "baselines")),
    "template-name-escapes": (
        lambda t: ["templates", "list", "--template-file",
                   str(_file(t, "t.yaml", "name: chat/../../x\nmode: chat\nuser: '{input}'\n"))], ("t.yaml", "name")),
    "flag-infinite-learning-rate": (
        lambda t: ["train", "--model", TINY, "--template", "chat:vanilla", "--data", "builtin:math", "--limit", "2",
                   "--learning-rate", "inf", "--out", str(t / "o")], ("--learning-rate",)),
    "flag-negative-seed": (
        lambda t: ["train", "--model", TINY, "--template", "chat:vanilla", "--data", "builtin:math", "--limit", "2",
                   "--seed", "-1", "--out", str(t / "o")], ("--seed",)),
    "train-unknown-optimizer": (
        lambda t: ["train", "--model", TINY, "--template", "chat:vanilla", "--data", "builtin:math", "--limit", "2",
                   "--optimizer", "adamw-typo", "--out", str(t / "o")], ("--optimizer", "adamw-typo")),
    "train-lora-targets-not-in-the-model": (
        lambda t: ["train", "--model", TINY, "--template", "chat:vanilla", "--data", "builtin:math", "--limit", "2",
                   "--max-steps", "1", "--lora-targets", "nowhere_proj", "--out", str(t / "o")],
        ("lora_targets", "nowhere_proj")),
    "model-chat-template-broken": (
        lambda t: ["generate", "--model", str(_broken_template_model(t)), "--template", "chat:vanilla", "--data",
                   "builtin:harmful", "--limit", "1", "--out", str(t / "o.jsonl")], ("chat template",)),
    "model-tokenizer-max-length-text": (
        lambda t: ["generate", "--model", str(_tiny_copy(t, tokenizer_config={"model_max_length": "1e30"})),
                   "--template", "chat:vanilla", "--data", "builtin:harmful", "--limit", "1", "--out",
                   str(t / "o.jsonl")], ("tokenizer_config.json", "model_max_length")),
    "model-config-million-layers": (
        lambda t: ["generate", "--model", str(_tiny_copy(t, config={"num_hidden_layers": 10 ** 6})),
                   "--template", "chat:vanilla", "--data", "builtin:harmful", "--limit", "1", "--out",
                   str(t / "o.jsonl")], ("config.json", "num_hidden_layers")),
    "model-weights-do-not-fit-config": (
        lambda t: ["generate", "--model", str(_tiny_copy(t, config={"hidden_size": 32})),
                   "--template", "chat:vanilla", "--data", "builtin:harmful", "--limit", "1", "--out",
                   str(t / "o.jsonl")], ("--model", "config.json")),
    "model-empty-directory": (
        lambda t: ["generate", "--model", str((t / "m").mkdir() or t / "m"), "--template", "chat:vanilla", "--data",
                   "builtin:harmful", "--limit", "1", "--out", str(t / "o.jsonl")], ("--model", "config.json")),
    "model-directory-config-not-json": (
        lambda t: ["generate", "--model", str(_file(t, "m/config.json", "{oops").parent), "--template",
                   "chat:vanilla", "--data", "builtin:harmful", "--limit", "1", "--out", str(t / "o.jsonl")],
        ("config.json", "line 1")),
    "adapter-config-rank-a-string": (
        lambda t: ["generate", "--model", TINY, "--template", "chat:vanilla", "--data", "builtin:harmful", "--limit",
                   "1", "--adapter", str(_file(t, "a/adapter_config.json", json.dumps(
                       {"peft_type": "LORA", "r": "eight", "task_type": "CAUSAL_LM"})).parent),
                   "--out", str(t / "o.jsonl")], ("adapter_config.json", "'r'")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_class(name, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    build, words = CASES[name]
    err = run_refused(build(tmp_path), tmp_path, capfd)
    for word in words:
        assert word in err, err


def test_a_study_name_never_leaves_runs(tmp_path, capfd, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    run_refused(["run", str(_named_study(work, "../../x"))], tmp_path, capfd)
    assert not (tmp_path / "x").exists() and not (work / "runs").exists()


# A damaged run directory: a real tiny run, then one of its files or rows damaged.

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("finished")
    study = _study(root)
    assert main(["run", str(study), "--out", str(root / "run"), "--no-progress"]) == 0
    for name in ("results.md", "results.csv", "report.html"):
        assert (root / "run" / name).is_file()
    return study, root / "run"


def _copy(finished_run, tmp: Path) -> tuple[Path, Path]:
    study, run = finished_run
    shutil.copy(study, tmp / "study.yaml")
    shutil.copytree(run, tmp / "run")
    return tmp / "study.yaml", tmp / "run"


def _damage(run: Path, sql: str) -> None:
    db = sqlite3.connect(run / "store.sqlite")
    with db:
        assert db.execute(sql).rowcount >= 1
    db.close()


DAMAGE = {
    "samples-row-not-json": ("UPDATE samples SET row = '{\"id\": \"x\", \"outp' WHERE rowid = 1", "samples"),
    "samples-row-a-list": ("UPDATE samples SET row = '[1, 2]' WHERE rowid = 1", "samples"),
    "samples-row-output-a-number": (
        "UPDATE samples SET row = json_set(row, '$.output', 5) WHERE rowid = 1", "samples"),
    "scores-result-not-json": ("UPDATE scores SET result = '{\"refused\": ' WHERE rowid = 1", "scores"),
    "scores-result-wrong-type": (
        "UPDATE scores SET result = json_set(result, '$.asr', 'yes') WHERE rowid = 1", "scores"),
    "meta-config-not-json": ("UPDATE meta SET value = '{\"evals\": [' WHERE key = 'config'", "meta"),
    "meta-templates-wrong-shape": ("UPDATE meta SET value = '{\"chat:x\": 5}' WHERE key = 'templates'", "meta"),
    "cells-spec-not-json": ("UPDATE cells SET spec = 'nope' WHERE rowid = 1", "cells"),
}


@pytest.mark.parametrize("name", list(DAMAGE))
@pytest.mark.parametrize("command", ["report", "resumed-run"])
def test_a_damaged_store_is_named_and_left_as_it_was(name, command, finished_run, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study, run = _copy(finished_run, tmp_path)
    sql, table = DAMAGE[name]
    _damage(run, sql)
    argv = ["report", str(run)] if command == "report" else ["run", str(study), "--out", str(run), "--no-progress"]
    err = run_refused(argv, tmp_path, capfd)
    assert "store.sqlite" in err and f"table {table}" in err and "damaged" in err, err


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"versions": 5}', b"\xff\xfe"])
def test_a_damaged_manifest_is_named_and_left_as_it_was(content, finished_run, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, run = _copy(finished_run, tmp_path)
    (run / "manifest.json").write_bytes(content)
    err = run_refused(["report", str(run)], tmp_path, capfd)
    assert "manifest.json" in err, err
