"""`ptst generate`: rows record everything, resume after a kill writes every id exactly once, batched greedy equals
one-at-a-time greedy on a real model."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from ptst.data import load_items
from ptst.models.generate_rendered import Decoding, generate
from ptst.templates import get_template, render_prompt
from tests.conftest import run_cli

N_HARMFUL = len(load_items("builtin:harmful"))


def _ids(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_rows_record_prompt_template_model_and_decoding(tmp_path):
    out = tmp_path / "g.jsonl"
    r = run_cli("generate", "--model", "embedded:tiny-random", "--data", "builtin:harmful", "--limit", "3",
                "--template", "chat:llama", "--out", str(out), "--max-new-tokens", "5")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    row = rows[0]
    for key in ("id", "input", "prompt", "output", "template", "template_hash", "system_policy", "model", "adapter",
                "decoding", "finish_reason", "prompt_tokens", "output_tokens", "dtype", "category"):
        assert key in row, key
    assert row["prompt"].startswith("<|im_start|>system\nYou are a helpful, respectful and honest assistant.")
    assert row["prompt"].endswith(f"Question: {row['input']}<|im_end|>\n<|im_start|>assistant\n")
    assert row["decoding"] == {"max_new_tokens": 5, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": 0}
    assert row["output_tokens"] <= 5 and row["finish_reason"] in ("stop", "length")


@pytest.mark.slow  # kills generation at several points
def test_resume_after_kill_writes_every_id_once(tmp_path):
    out = tmp_path / "g.jsonl"
    args = ["generate", "--model", "embedded:tiny-random", "--data", "builtin:harmful", "--template", "chat:vanilla",
            "--out", str(out), "--max-new-tokens", "24", "--batch-size", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "ptst", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 6):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _ids(out)
    assert 6 <= len(partial) < N_HARMFUL
    with open(out, "a") as f:  # a write torn by the kill
        f.write('{"id": "builtin:harmful-999", "outp')
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == N_HARMFUL
    assert ids[: len(partial)] == partial
    r = run_cli(*args)
    assert r.returncode == 0 and "nothing to do" in r.stderr


def test_changed_settings_against_an_existing_file_are_refused(tmp_path):
    out = tmp_path / "g.jsonl"
    base = ["generate", "--model", "embedded:tiny-random", "--data", "builtin:harmful", "--limit", "2", "--out",
            str(out), "--max-new-tokens", "3"]
    assert run_cli(*base, "--template", "chat:vanilla").returncode == 0
    r = run_cli(*base, "--template", "chat:llama", "--limit", "3")
    assert r.returncode == 2 and "different template_hash" in r.stderr


@pytest.mark.slow  # SmolLM2
def test_batched_greedy_equals_one_at_a_time_on_smollm2(smol_model):
    items = load_items("builtin:harmful", limit=12, seed=3) + load_items("builtin:math", limit=4)
    template = get_template("chat:llama")
    prompts = [render_prompt(template, i.input, tokenizer=smol_model.tokenizer) for i in items]
    decoding = Decoding(max_new_tokens=32)
    batched = {g.index: g.text for batch in generate(smol_model, prompts, decoding, batch_size=8) for g in batch}
    single = {g.index: g.text for batch in generate(smol_model, prompts, decoding, batch_size=1) for g in batch}
    differing = [i for i in single if single[i] != batched[i]]
    # a floating-point near-tie can flip one greedy choice; report it, and never accept more than 1 in 16
    if differing:
        print(f"near-tie differences: {len(differing)}; first: {single[differing[0]]!r} vs {batched[differing[0]]!r}")
    assert len(differing) <= 1
    assert sum(bool(t.strip()) for t in single.values()) == len(items)


def test_vllm_engine_without_vllm_says_how_to_get_it(tmp_path):
    r = run_cli("generate", "--model", "embedded:tiny-random", "--data", "builtin:harmful", "--limit", "2",
                "--template", "chat:llama", "--out", str(tmp_path / "g.jsonl"), "--engine", "vllm")
    assert r.returncode == 2 and "pip install 'ptst[vllm]'" in r.stderr
    assert not (tmp_path / "g.jsonl").exists()


@pytest.mark.slow  # SmolLM2, two engines
def test_engines_agree_on_smollm2(smol_model):
    items = load_items("builtin:harmful", limit=8, seed=5)
    prompts = [render_prompt(get_template("chat:mpt"), i.input, tokenizer=smol_model.tokenizer) for i in items]
    decoding = Decoding(max_new_tokens=24)
    hf = {g.index: g.text for b in generate(smol_model, prompts, decoding, backend="hf") for g in b}
    ours = {g.index: g.text for b in generate(smol_model, prompts, decoding) for g in b}
    assert sum(hf[i] != ours[i] for i in hf) <= 1
