"""`--dtype auto` means bfloat16 where the hardware multiplies bf16 matrices fast, float32 elsewhere; what ran is
recorded with every sample, training record and study identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


def cpu_flags() -> set[str]:
    """The CPU's feature flags as the kernel lists them (a source independent of torch's own detection)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


EXPECTED_AUTO = "bfloat16" if {"amx_bf16", "avx512_bf16"} & cpu_flags() else "float32"


def test_auto_means_bfloat16_exactly_where_the_cpu_has_a_bf16_unit():
    from ptst.models.load import bf16_unit, resolve_dtype

    assert resolve_dtype("auto", "cpu") == EXPECTED_AUTO
    assert (bf16_unit("cpu") is not None) == (EXPECTED_AUTO == "bfloat16")
    assert resolve_dtype("float32", "cpu") == "float32" and resolve_dtype("bfloat16", "cpu") == "bfloat16"


@pytest.mark.slow
def test_samples_record_the_dtype_that_ran_not_auto(tmp_path):
    for flag, want in (([], EXPECTED_AUTO), (["--dtype", "float32"], "float32")):
        out = tmp_path / f"g{len(flag)}.jsonl"
        r = run_cli("generate", "--model", "embedded:tiny-random", "--data", "builtin:harmful", "--limit", "2",
                    "--template", "chat:llama", "--max-new-tokens", "2", "--out", str(out), *flag)
        assert r.returncode == 0, r.stderr[-2000:]
        assert {json.loads(line)["dtype"] for line in out.read_text().splitlines()} == {want}


@pytest.mark.slow
def test_lora_training_in_bfloat16_keeps_the_adapter_and_its_optimiser_in_float32(tmp_path):
    from safetensors import safe_open

    out = tmp_path / "a"
    r = run_cli("train", "--model", "embedded:tiny-random", "--data", "builtin:math", "--limit", "8",
                "--template", "chat:vanilla", "--batch-size", "4", "--max-steps", "2", "--logging-steps", "1",
                "--dtype", "bfloat16", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "ptst_train.json").read_text())
    assert record["dtype"] == {"requested": "bfloat16", "compute": "bfloat16", "frozen": ["bfloat16"],
                               "trained": ["float32"]}
    assert [p["step"] for p in record["loss_curve"]] == [1, 2]
    with safe_open(str(out / "adapter_model.safetensors"), framework="pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float32"}


def _study(tmp_path: Path, dtype: str):
    from ptst.study.config import StudyConfig

    return StudyConfig.model_validate({
        "name": "d", "model": "embedded:tiny-random", "dtype": dtype,
        "train": {"data": "builtin:math", "limit": 4, "templates": ["chat:vanilla"], "seeds": [0]},
        "test_templates": ["chat:llama"],
        "evals": [{"name": "harmful", "data": "builtin:harmful", "limit": 2, "scorers": ["refusal-keywords"]}]})


def test_a_study_resolves_auto_once_into_every_identity(tmp_path):
    from ptst.study.config import with_compute_dtype
    from ptst.study.plan import build_plan

    plans = {d: build_plan(with_compute_dtype(_study(tmp_path, d))) for d in ("auto", "float32", "bfloat16")}
    assert with_compute_dtype(_study(tmp_path, "auto")).dtype == EXPECTED_AUTO
    assert {c.spec["dtype"] for c in plans["auto"].cells} == {EXPECTED_AUTO}
    cells = {d: [c.id for c in p.cells] for d, p in plans.items()}
    trainings = {d: [t.id for t in p.trainings] for d, p in plans.items()}
    assert cells["auto"] == cells[EXPECTED_AUTO] and trainings["auto"] == trainings[EXPECTED_AUTO]
    assert set(cells["float32"]).isdisjoint(cells["bfloat16"])  # samples of two precisions never share a cell
    assert set(trainings["float32"]).isdisjoint(trainings["bfloat16"])  # nor does an adapter


def test_a_run_directory_refuses_another_precision(tmp_path):
    from ptst.core.errors import PtstError
    from ptst.study.config import with_compute_dtype
    from ptst.study.open_run import open_run

    _, store = open_run(with_compute_dtype(_study(tmp_path, "float32")), tmp_path / "run")
    store.close()
    with pytest.raises(PtstError, match=r'dtype: "float32" -> "bfloat16"'):
        open_run(with_compute_dtype(_study(tmp_path, "bfloat16")), tmp_path / "run")


@pytest.mark.slow
def test_an_adapter_merged_for_bfloat16_is_base_plus_update_rounded_once(tmp_path):
    """The merged bf16 weights are the float32 sum W + (alpha / r) B A rounded to bf16 once, computed here from
    the files themselves (a merge into bf16 weights rounds the update and the sum: different in many places)."""
    import torch
    from safetensors.torch import load_file

    from ptst.models import load_model, prepare

    out = tmp_path / "a"
    r = run_cli("train", "--model", "embedded:tiny-random", "--data", "builtin:math", "--limit", "8",
                "--template", "chat:vanilla", "--batch-size", "4", "--max-steps", "2", "--learning-rate", "0.05",
                "--dtype", "float32", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((out / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    lora = load_file(str(out / "adapter_model.safetensors"))
    base = load_file(str(Path(prepare("embedded:tiny-random")) / "model.safetensors"))
    merged = load_model("embedded:tiny-random", adapter=str(out), dtype="bfloat16").model.state_dict()
    checked = 0
    for key, a in lora.items():
        if ".lora_A." not in key:
            continue
        b = lora[key.replace(".lora_A.", ".lora_B.")]
        name = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
        want = (base[name].float() + scale * (b.float() @ a.float())).to(torch.bfloat16)
        assert torch.equal(merged[name], want), name
        checked += 1
    assert checked >= 4


@pytest.mark.slow
def test_the_output_head_never_copies_its_weight_per_row(tmp_path):
    """A merged adapter leaves weights that need no gradient; torch's CPU matmul then multiplies a strided 3-D input
    (the last position sliced out of a prefill) by a per-row copy of the whole head (21 s instead of 0.05 s for
    Qwen's 151,936-row head in bf16). Every inference model ptst loads multiplies by the weight itself."""
    import torch
    from torch.profiler import profile

    from ptst.models import load_model

    out = tmp_path / "a"
    r = run_cli("train", "--model", "embedded:tiny-random", "--data", "builtin:math", "--limit", "4",
                "--template", "chat:vanilla", "--batch-size", "4", "--max-steps", "1", "--dtype", "float32",
                "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    for dtype in ("bfloat16", "float32"):
        for kw in ({}, {"adapter": str(out)}, {"adapter": str(out), "merge_adapter": False}):
            model = load_model("embedded:tiny-random", dtype=dtype, **kw).model
            head = model.get_output_embeddings()
            hidden = torch.randn(8, 5, head.in_features, dtype=getattr(torch, dtype))[:, -1:, :]  # not contiguous
            with torch.no_grad(), profile() as prof:
                logits = head(hidden)
            ops = {e.key for e in prof.key_averages()}
            assert "aten::bmm" not in ops, (dtype, kw)
            assert torch.equal(logits, torch.nn.functional.linear(hidden.contiguous(), head.weight, head.bias))
