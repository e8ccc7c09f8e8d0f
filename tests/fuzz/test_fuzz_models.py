"""Fuzzed model and adapter directories under `ptst generate`: config.json, tokenizer_config.json and
generation_config.json mutated, files removed or truncated; an adapter's adapter_config.json mutated, its weights
removed or truncated. The weights are embedded:tiny-random's, linked, never copied or changed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptst.core.jsontext import parse_json
from tests.fuzz.harness import examples, run_case
from tests.fuzz.mutate import JSON_TOKENS, dump_json, mutated_bytes, mutated_doc, mutated_jsonl

TINY = "embedded:tiny-random"
WEIGHTS = ("model.safetensors", "adapter_model.safetensors")


def _generate(root: Path, model: str, *extra) -> list:
    return ["generate", "--model", model, "--template", "chat:vanilla", "--data", "builtin:harmful", "--limit", "1",
            "--max-new-tokens", "1", "--out", root / "o.jsonl", *extra]


@st.composite
def damaged_dir(draw, source: Path, target: Path, focus: dict[str, tuple[str, ...]]) -> None:
    """`target`: `source`'s files (weights linked), one of them changed or removed."""
    target.mkdir()
    for f in source.iterdir():
        if f.name in WEIGHTS:
            os.symlink(f, target / f.name)
        elif f.is_file():
            shutil.copy(f, target / f.name)
    name = draw(st.sampled_from(sorted(p.name for p in target.iterdir() if not focus.get("*only*")
                                       or p.name in focus["*only*"])))
    path = target / name
    op = draw(st.sampled_from(["json", "json", "json", "bytes", "remove"]) if name.endswith(".json") else
              st.sampled_from(["bytes", "remove"]))
    if op == "remove":
        path.unlink()
    elif op == "bytes":
        data = path.read_bytes()
        path.unlink()  # a linked file is replaced, not written through
        path.write_bytes(draw(mutated_bytes(data[:4096] if name in WEIGHTS else data)))
    else:
        doc = parse_json(path.read_text(), name, wide_ints=True)
        path.write_text(dump_json(draw(mutated_doc(doc, JSON_TOKENS, focus=focus.get(name, ())))))


MODEL_FOCUS = {"config.json": ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                               "max_position_embeddings", "eos_token_id", "pad_token_id", "rope_parameters",
                               "tie_word_embeddings", "dtype"),
               "tokenizer_config.json": ("eos_token", "pad_token", "bos_token", "model_max_length",
                                         "tokenizer_class"),
               "generation_config.json": ("eos_token_id", "max_length", "do_sample")}
ADAPTER_FOCUS = {"adapter_config.json": ("peft_type", "r", "lora_alpha", "target_modules", "task_type",
                                         "base_model_name_or_path", "lora_dropout", "fan_in_fan_out"),
                 "*only*": ("adapter_config.json", "adapter_config.json", "adapter_model.safetensors")}


@pytest.fixture(scope="module")
def tiny_dir() -> Path:
    from ptst.models import prepare

    return Path(prepare(TINY))


@settings(max_examples=examples(6))
@given(data=st.data())
def test_model_directories(data, tiny_dir):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data.draw(damaged_dir(tiny_dir, root / "model", MODEL_FOCUS))
        run_case("model-dir", _generate(root, str(root / "model")), root)


@settings(max_examples=examples(6))
@given(data=st.data())
def test_adapter_directories(data, finished_run):
    _, run = finished_run
    adapter = next(p.parent for p in (run / "train").rglob("adapter_config.json"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data.draw(damaged_dir(adapter, root / "adapter", ADAPTER_FOCUS))
        run_case("adapter", _generate(root, TINY, "--adapter", root / "adapter"), root)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A samples file as `ptst generate` writes it: the starting point of resumed generations."""
    root = tmp_path_factory.mktemp("generated")
    assert run_case("valid", _generate(root, TINY), root) == 0
    return root / "o.jsonl"


@settings(max_examples=examples(8))
@given(content=st.data())
def test_resumed_generation(content, generated):
    rows = [parse_json(line, "o.jsonl") for line in generated.read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "o.jsonl").write_bytes(content.draw(mutated_jsonl(rows, focus=(
            "id", "template_hash", "model", "adapter", "decoding", "markup", "output", "prompt", "input"))))
        run_case("resume-generate", _generate(root, TINY), root, rewrites=("o.jsonl",))


def test_the_valid_directories_are_accepted(tiny_dir, finished_run, tmp_path):
    _, run = finished_run
    adapter = next(p.parent for p in (run / "train").rglob("adapter_config.json"))
    assert run_case("valid", _generate(tmp_path, str(tiny_dir)), tmp_path) == 0
    (tmp_path / "o.jsonl").unlink()
    assert run_case("valid", _generate(tmp_path, TINY, "--adapter", adapter), tmp_path) == 0
