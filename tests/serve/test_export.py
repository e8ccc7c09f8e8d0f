"""`ptst export`: the exported tokenizer renders exactly what ptst renders, and the model loads with plain
transformers (merged, or base + adapter with plain peft)."""

from __future__ import annotations

import json

import pytest

from ptst.templates import Demo, Template, get_template
from ptst.templates.render import render_conversation
from tests.conftest import run_cli
from tests.templates.test_chat_templates import MISTRAL_V01

CONVERSATIONS = [
    [{"role": "user", "content": "How do I bake bread?"}],
    [{"role": "system", "content": "Answer in one line."}, {"role": "user", "content": "hi"}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}],
]
TEMPLATES = [get_template("chat:llama"), get_template("chat:vanilla"), get_template("chat:alpaca"),
             Template(name="chat:icd", mode="chat", system="Be safe {{not jinja}}.", user="Q: {input} (brief)",
                      demos=(Demo(input="how to build a bomb", output="I can't help with that."),),
                      reminder="Remember: be a responsible assistant.")]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter") / "a"
    r = run_cli("train", "--model", "embedded:tiny-random", "--data", "builtin:math", "--limit", "8", "--template",
                "chat:vanilla", "--out", str(out), "--max-steps", "2", "--learning-rate", "0.01")
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_prologue_renders_like_ptst(smol_tokenizer, template):
    import copy

    from ptst.serve.export import prologue

    exported = copy.deepcopy(smol_tokenizer)
    exported.chat_template = prologue(template, fold=False) + smol_tokenizer.chat_template
    for conv in CONVERSATIONS:
        ours, _ = render_conversation(template, conv, tokenizer=smol_tokenizer)
        theirs = exported.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        assert theirs == ours.text


def test_prologue_folds_for_a_model_without_system_role(smol_tokenizer):
    import copy

    from ptst.serve.export import prologue

    base = copy.deepcopy(smol_tokenizer)
    base.chat_template = MISTRAL_V01
    base.__dict__.pop("_ptst_system_role", None)
    exported = copy.deepcopy(base)
    exported.chat_template = prologue(get_template("chat:llama"), fold=True) + MISTRAL_V01
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "x"}]
    ours, _ = render_conversation(get_template("chat:llama"), conv, tokenizer=base)
    assert ours.system_policy == "folded"
    assert exported.apply_chat_template(conv, tokenize=False, add_generation_prompt=True) == ours.text


@pytest.mark.slow  # trains an adapter, exports twice
def test_export_merged_and_with_adapter_load_with_plain_libraries(adapter, tmp_path, tiny_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ptst.models import load_model

    merged, split = tmp_path / "merged", tmp_path / "split"
    for out, extra in ((merged, ["--merge"]), (split, [])):
        r = run_cli("export", "--model", "embedded:tiny-random", "--adapter", str(adapter), "--template",
                    "chat:llama", "--out", str(out), *extra)
        assert r.returncode == 0, r.stderr[-2000:]
    tok = AutoTokenizer.from_pretrained(merged)
    conv = [{"role": "user", "content": "hi"}]
    ours, _ = render_conversation(get_template("chat:llama"), conv, tokenizer=AutoTokenizer.from_pretrained(tiny_path))
    assert tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True) == ours.text
    record = json.loads((merged / "ptst_export.json").read_text())
    assert record["template"] == "chat:llama" and record["merged"] is True
    ids = tok(ours.text, return_tensors="pt").input_ids
    ptst_model = load_model("embedded:tiny-random", adapter=str(adapter), dtype="float32").model
    with torch.no_grad():
        want = ptst_model(ids).logits
        got_merged = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(split)
        got_split = PeftModel.from_pretrained(base, split / "adapter")(ids).logits
    assert torch.allclose(want, got_merged, atol=1e-4) and torch.allclose(want, got_split, atol=1e-4)


def test_export_refuses_non_empty_out_and_text_templates(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    r = run_cli("export", "--model", "embedded:tiny-random", "--template", "chat:llama", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and f"--out {tmp_path / 'x'}" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["f"]  # nothing in it was touched
    r = run_cli("export", "--model", "embedded:tiny-random", "--template", "text:vanilla", "--out", str(tmp_path / "y"))
    assert r.returncode == 2 and "text template" in r.stderr


def test_export_into_its_own_earlier_export(tmp_path):
    out = tmp_path / "e"
    args = ["export", "--model", "embedded:tiny-random", "--template", "chat:llama", "--out", str(out)]
    assert run_cli(*args).returncode == 0
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    r = run_cli(*args)  # the same settings: recognised, nothing rewritten
    assert r.returncode == 0 and "already holds this export" in r.stderr and "did not write" not in r.stderr
    r = run_cli(*args[:-4], "--template", "chat:vanilla", "--out", str(out))  # other settings: refused, named
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert f"--out {out}: holds ptst's export of embedded:tiny-random under chat:llama with another template" in \
        r.stderr
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == files
