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


def test_prepare_smollm2_from_the_wheel_then_reload(tmp_path, monkeypatch):
    monkeypatch.setenv("PTST_HOME", str(tmp_path))
    spec = embedded.get(SMOL)
    assert not spec.is_prepared()
    path = prepare_spec(spec)
    assert path == tmp_path / "models" / "smollm2-135m-instruct"
    assert json.loads((path / MARKER).read_text())["gguf_sha256"] == spec.gguf_sha256
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert [p.name for p in (tmp_path / "models").iterdir()] == [path.name]  # no temp leftovers
    loaded = load_model(SMOL)
    assert loaded.path == str(path) and loaded.model.config.model_type == "llama"
    assert "<|im_start|>" in loaded.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                                                   tokenize=False)


def test_bad_hash_is_an_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PTST_HOME", str(tmp_path))
    bad = dataclasses.replace(embedded.get(SMOL), name="embedded:bad-hash", gguf_sha256="0" * 64)
    with pytest.raises(PtstError, match="sha256 of the GGUF is b179c952.*expected 0000"):
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
    for name in ("embedded:qwen2.5-coder-0.5b-instruct", SMOL, "embedded:tiny-random"):
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
