"""The `llamacpp` engine ([cpu-fast]) run for real: llama.cpp on the embedded models' own GGUF files, compared with
ptst's float32 engine on the same token ids, with a real PEFT adapter converted to llama.cpp's LoRA format."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ptst.core.errors import PtstError
from ptst.models.engines import Decoding, engines
from ptst.templates import get_template, render_prompt
from ptst.templates.render import encode_rendered
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # llama.cpp on the embedded chat models, against float32

SMOL = "embedded:smollm2-135m-instruct"
QWEN = "embedded:qwen2.5-coder-0.5b-instruct"
QUESTIONS = ["What is 17*23?", "Tom has 3 apples and buys 5 more. How many apples does he have?",
             "Name three prime numbers.", "Write one sentence about the sea."]


def outputs(engine_name: str, model: str, questions, *, adapter=None, template="chat:vanilla", max_new_tokens=16):
    engine = engines.get(engine_name)
    loaded = engine.load(model, adapter=adapter)
    ids = [encode_rendered(render_prompt(get_template(template), q, tokenizer=loaded.tokenizer), loaded.tokenizer)
           for q in questions]
    kw = {"adapters": [adapter] * len(ids)} if engine.per_request_adapters else {}
    got = {g.index: g for batch in engine.generate(loaded, ids, Decoding(max_new_tokens=max_new_tokens), **kw)
           for g in batch}
    return [got[i].text for i in range(len(questions))], [got[i] for i in range(len(questions))]


@pytest.fixture(scope="module")
def smol_adapter(tmp_path_factory, smol_model):
    """A real PEFT LoRA adapter on SmolLM2 (a llama GGUF: q and k rows are permuted in llama.cpp's layout), with
    non-zero B so that it changes the model's answers."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=16, init_lora_weights=False, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(smol_model.model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.1)
    folder = tmp_path_factory.mktemp("adapter") / "smol-lora"
    peft_model.save_pretrained(folder)
    peft_model.unload()  # give the session's shared float32 model back untouched
    return str(folder)


def test_greedy_outputs_follow_the_float32_engine():
    ours, gens = outputs("llamacpp", SMOL, QUESTIONS)
    again, _ = outputs("llamacpp", SMOL, QUESTIONS)
    reference, _ = outputs("ptst", SMOL, QUESTIONS)
    assert ours == again  # greedy: the same answers every time
    assert sum(a == b for a, b in zip(ours, reference, strict=True)) >= 3, (ours, reference)
    assert all(g.output_tokens > 0 and g.finish_reason in ("stop", "length") for g in gens)


def test_adapter_is_applied_as_peft_applies_it(smol_adapter):
    base, _ = outputs("llamacpp", SMOL, QUESTIONS)
    tuned, _ = outputs("llamacpp", SMOL, QUESTIONS, adapter=smol_adapter)
    reference, _ = outputs("ptst", SMOL, QUESTIONS, adapter=smol_adapter)
    assert sum(a != b for a, b in zip(base, tuned, strict=True)) >= 2, (base, tuned)
    # quantised kernels meet near-ties that a random adapter adds: most answers equal PEFT's float32 ones
    assert sum(a == b for a, b in zip(tuned, reference, strict=True)) >= 2, (tuned, reference)


def llama_rotary_layout(weight, heads: int):
    """The row order llama.cpp's converter gives q and k of a `llama` model (convert_hf_to_gguf's permute)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, -1).swapaxes(1, 2).reshape(weight.shape)


def test_converted_adapter_holds_peft_update_in_llamacpp_layout(smol_adapter, smol_model):
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.numpy import load_file

    from ptst.models.embedded import embedded
    from ptst.models.engines.llamacpp import gguf_file, lora_gguf

    heads = smol_model.model.config.num_attention_heads
    base = {t.name: t for t in GGUFReader(str(gguf_file(embedded.get(SMOL)))).tensors}
    q = base["blk.0.attn_q.weight"]
    hf_q = smol_model.model.model.layers[0].self_attn.q_proj.weight.detach().numpy()
    assert np.array_equal(dequantize(q.data, q.tensor_type), llama_rotary_layout(hf_q, heads))  # the layout is right
    converted = GGUFReader(str(lora_gguf(smol_adapter, "llama")))
    lora = {t.name: np.array(t.data) for t in converted.tensors}
    config = json.loads((Path(smol_adapter) / "adapter_config.json").read_text())
    peft = load_file(str(Path(smol_adapter) / "adapter_model.safetensors"))
    alpha = float(converted.fields["adapter.lora.alpha"].contents())
    prefix = "base_model.model.model.layers.0"
    for peft_name, gguf_name, layout in [("self_attn.q_proj", "attn_q", True), ("mlp.down_proj", "ffn_down", False)]:
        name = f"blk.0.{gguf_name}.weight"
        update = lora[f"{name}.lora_b"] @ lora[f"{name}.lora_a"] * alpha / config["r"]
        expected = (peft[f"{prefix}.{peft_name}.lora_B.weight"] @ peft[f"{prefix}.{peft_name}.lora_A.weight"]
                    * config["lora_alpha"] / config["r"])
        expected = llama_rotary_layout(expected, heads) if layout else expected
        assert np.allclose(update, expected, atol=1e-6), peft_name


def test_refusal_verdicts_agree_with_the_float32_engine_on_qwen():
    from ptst.data import load_items
    from ptst.score.refusal import matched_phrase

    requests = [item.input for item in load_items("builtin:harmful", limit=8, seed=0)]
    ours, _ = outputs("llamacpp", QWEN, requests, template="chat:llama", max_new_tokens=24)
    reference, _ = outputs("ptst", QWEN, requests, template="chat:llama", max_new_tokens=24)
    refused = [[matched_phrase(text) is not None for text in answers] for answers in (ours, reference)]
    verdicts = list(zip(*refused, strict=True))
    assert sum(a == b for a, b in verdicts) >= 7, list(zip(ours, reference, strict=True))
    assert any(b for _, b in verdicts)  # the safety prompt makes the model refuse some requests


def test_adapter_conversion_is_cached_by_content(smol_adapter, tmp_path):
    import shutil

    from ptst.models.engines.llamacpp import lora_gguf

    first = lora_gguf(smol_adapter, "llama")
    stamp = first.stat().st_mtime_ns
    assert lora_gguf(smol_adapter, "llama") == first and first.stat().st_mtime_ns == stamp
    changed = shutil.copytree(smol_adapter, tmp_path / "changed")
    config = json.loads((changed / "adapter_config.json").read_text())
    (changed / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": 32}))
    assert lora_gguf(str(changed), "llama") != first


@pytest.mark.parametrize("change, message", [
    ({"use_dora": True}, "plain LoRA adapters"),
    ({"modules_to_save": ["lm_head"]}, "plain LoRA adapters"),
])
def test_unsupported_adapters_are_refused_by_name(smol_adapter, tmp_path, change, message):
    import shutil

    from ptst.models.engines.llamacpp import lora_gguf

    folder = shutil.copytree(smol_adapter, tmp_path / "other")
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(PtstError, match=message):
        lora_gguf(str(folder), "llama")


def test_a_model_without_a_gguf_is_refused_before_any_work(tmp_path):
    proc = run_cli("generate", "--engine", "llamacpp", "--model", "embedded:tiny-random", "--data", "builtin:harmful",
                   "--limit", "2", "--template", "chat:vanilla", "--out", str(tmp_path / "g.jsonl"))
    assert proc.returncode == 2, proc.stderr
    assert "embedded:tiny-random" in proc.stderr and SMOL in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "g.jsonl").exists()


def test_the_missing_extra_names_its_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # what `import xllamacpp` sees when it is not installed
    with pytest.raises(PtstError, match=r"pip install 'ptst\[cpu-fast\]'"):
        engines.get("llamacpp").check()


def test_generate_records_the_engine_on_every_sample(tmp_path):
    out = tmp_path / "g.jsonl"
    proc = run_cli("generate", "--engine", "llamacpp", "--model", SMOL, "--data", "builtin:harmful", "--limit", "3",
                   "--template", "chat:llama", "--max-new-tokens", "6", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and {r["engine"] for r in rows} == {"llamacpp"}
    assert all(r["output_tokens"] <= 6 and r["prompt"].startswith("<|im_start|>system") for r in rows)


def test_q5_0_blocks_rewritten_as_q8_0_hold_the_same_weights():
    """The repack llama.cpp runs: every weight of a Q5_0 tensor bit for bit equal after it, for random weights
    with values at both ends of the five-bit range."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import dequantize, quantize

    from ptst.models.gguf_repack import q5_0_as_q8_0

    weights = np.random.default_rng(0).standard_normal((6, 128)).astype(np.float32)
    weights[0, :32] = np.linspace(-1, 1, 32)  # a block using -16 and +15
    q5 = quantize(weights, Q.Q5_0)
    q8 = q5_0_as_q8_0(q5)
    assert q8.shape == (6, 128 // 32 * 34)
    assert np.array_equal(dequantize(q8, Q.Q8_0), dequantize(q5, Q.Q5_0))
    assert not np.array_equal(dequantize(q8, Q.Q8_0), weights)  # quantised, not a re-quantisation of floats


def test_the_qwen_gguf_runs_repacked_with_every_weight_unchanged():
    """llama.cpp gets a copy of the pinned Qwen GGUF without Q5_0 tensors whose weights all equal the original's."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFReader
    from gguf.quants import dequantize

    from ptst.models.embedded import embedded
    from ptst.models.engines.llamacpp import gguf_file

    path = Path(engines.get("llamacpp").load(QWEN).path)
    assert path.name.endswith(".q8_0.gguf")
    original = {t.name: t for t in GGUFReader(str(gguf_file(embedded.get(QWEN)))).tensors}
    runs = GGUFReader(str(path))
    assert [t.name for t in runs.tensors] == list(original)
    assert not any(t.tensor_type == Q.Q5_0 for t in runs.tensors)
    repacked = 0
    for tensor in runs.tensors:
        source = original[tensor.name]
        if source.tensor_type == Q.Q5_0:
            repacked += 1
            assert tensor.tensor_type == Q.Q8_0
            assert np.array_equal(dequantize(np.asarray(tensor.data), Q.Q8_0),
                                  dequantize(np.asarray(source.data), Q.Q5_0)), tensor.name
        else:
            assert tensor.tensor_type == source.tensor_type
            assert np.array_equal(np.asarray(tensor.data), np.asarray(source.data)), tensor.name
    assert repacked == 133
    for key in ("general.architecture", "tokenizer.ggml.tokens", "qwen2.block_count"):
        assert runs.fields[key].contents() == GGUFReader(str(gguf_file(embedded.get(QWEN)))).fields[key].contents()


def test_a_resumed_run_gets_the_uninterrupted_runs_answers():
    """Slots reuse prompt prefixes, whose numbers depend on the batch that computed them; each chunk runs on a
    fresh server, so a run that resumes at its second chunk answers as the run that went straight through."""
    from ptst.data import load_items

    engine = engines.get("llamacpp")
    loaded = engine.load(SMOL)
    requests = [item.input for item in load_items("builtin:harmful", limit=8, seed=0)]
    ids = [encode_rendered(render_prompt(get_template("chat:llama"), r, tokenizer=loaded.tokenizer),
                           loaded.tokenizer) for r in requests]

    def answers(done):
        return {g.index: g.text for batch in engine.generate(loaded, ids, Decoding(max_new_tokens=24), batch_size=4,
                                                             done=done) for g in batch}

    whole = answers(lambda i: False)
    resumed = answers(lambda i: i < 4)
    assert sorted(resumed) == [4, 5, 6, 7]
    assert {i: whole[i] for i in resumed} == resumed
