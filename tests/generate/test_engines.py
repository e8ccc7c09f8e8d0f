"""The engine registry: an engine is one registration away, both `ptst generate` and studies go through it, and
an unknown engine is a one-line exit-2 error that names the closest registered engine or lists them all."""

from __future__ import annotations

import json

import pytest

from ptst.core.errors import PtstError
from ptst.generate import GenerateConfig, run_generation
from ptst.models.engines import Decoding, Generation, engines
from ptst.models.engines.base import LocalWeights
from ptst.models.load import LoadedModel, load_tokenizer
from ptst.templates import get_template, render_prompt
from ptst.templates.render import encode_rendered
from tests.conftest import run_cli

SEEN: list[list[int]] = []


class TailEngine(LocalWeights):
    """Answers every prompt with the text of its own last three tokens; loads no weights."""

    name = "test-tail"
    description = "test engine"

    def load(self, model, *, adapter=None, dtype="auto", device="auto", trust_remote_code=False):
        return LoadedModel(None, load_tokenizer(model), model, model, adapter, "float32", "cpu")

    def generate(self, loaded, prompt_ids, decoding, *, adapters=None, batch_size=None, done=lambda i: False,
                 on_token=None):
        SEEN.extend(list(ids) for ids in prompt_ids)
        todo = [i for i in range(len(prompt_ids)) if not done(i)]
        yield [Generation(i, loaded.tokenizer.decode(prompt_ids[i][-3:]), "stop", len(prompt_ids[i]), 3)
               for i in todo]


@pytest.fixture
def tail_engine():
    engines.add_class(TailEngine)
    SEEN.clear()
    yield engines.get("test-tail")
    engines.unregister("test-tail")


def test_a_registered_engine_generates_through_ptst_generate(tail_engine, tmp_path):
    out = tmp_path / "g.jsonl"
    cfg = GenerateConfig(model="embedded:tiny-random", data="builtin:harmful", limit=3, template="chat:llama",
                         out=str(out), engine="test-tail")
    result = run_generation(cfg, progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert result["written"] == 3 and len(rows) == 3
    tok = load_tokenizer("embedded:tiny-random")
    for row in rows:
        ids = encode_rendered(render_prompt(get_template("chat:llama"), row["input"], tokenizer=tok), tok)
        assert ids in SEEN  # the engine got exactly the rendered prompt's token ids
        assert row["engine"] == "test-tail" and row["prompt_tokens"] == len(ids)
        assert row["output"] == tok.decode(ids[-3:])


def test_unknown_engine_is_one_line_naming_the_closest_or_listing_the_registered_ones(tmp_path):
    with pytest.raises(PtstError, match=r"unknown engine 'nope' \(known: hf, llamacpp, ptst, vllm\)"):
        engines.get("nope")
    r = run_cli("generate", "--model", "embedded:tiny-random", "--data", "builtin:harmful", "--limit", "2",
                "--template", "chat:llama", "--out", str(tmp_path / "g.jsonl"), "--engine", "llama-cpp-typo")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == ("ptst generate: error: command line: --engine: unknown engine 'llama-cpp-typo' (did you "
                        "mean 'llamacpp'?)\n")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "g.jsonl").exists()


@pytest.mark.slow  # SmolLM2
def test_engines_that_load_the_adapter_refuse_per_request_adapters(smol_model):
    with pytest.raises(PtstError, match="takes its adapter when the model is loaded"):
        next(engines.get("ptst").generate(smol_model, [[1, 2, 3]], Decoding(), adapters=["a"]))
