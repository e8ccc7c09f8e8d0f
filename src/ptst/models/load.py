"""Load a model (a hub id, a local directory or an embedded model), its tokenizer, and a PEFT adapter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ptst.core.errors import PtstError
from ptst.core.hub import prepare_hub_access
from ptst.models.embedded import embedded, prepare

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Device = Literal["auto", "cpu", "cuda", "mps"]


@dataclass
class LoadedModel:
    """A model ready for generation or training, with where it came from (recorded with every sample)."""

    model: Any
    tokenizer: Any
    ref: str
    path: str
    adapter: str | None
    dtype: str
    device: str


def resolve_model_path(ref: str) -> str:
    """`embedded:NAME` -> its prepared cache directory; a local directory stays; anything else is a hub id."""
    if ref.startswith("embedded:"):
        return str(prepare(embedded.get(ref).name))
    if Path(ref).exists() and not Path(ref).is_dir():
        raise PtstError(f"--model {ref}: is a file; give a model directory, a hub id or an embedded: name")
    return ref


def _hub_kwargs(path: str) -> dict:
    """Hub ids load from the local cache only when the hub is out of reach (no minute of retries)."""
    return {} if Path(path).is_dir() or prepare_hub_access() else {"local_files_only": True}


def load_tokenizer(ref: str, *, trust_remote_code: bool = False):
    """The model's tokenizer with a pad token (EOS when the model has none)."""
    from transformers import AutoTokenizer

    path = resolve_model_path(ref)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, **_hub_kwargs(path))
    except OSError as err:
        raise PtstError(_load_failure(ref, err)) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(dtype: str, device: str):
    """auto: bf16 on a GPU, fp32 on CPU (bf16 on CPU is an explicit choice: it can change greedy outputs)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def load_model(ref: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
               trust_remote_code: bool = False, merge_adapter: bool = True, for_training: bool = False
               ) -> LoadedModel:
    """Load base + optional adapter. For generation the LoRA weights are merged into the base (same function,
    fewer matmuls); `for_training` keeps the model in train mode and unmerged."""
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(ref)
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    tokenizer = load_tokenizer(ref, trust_remote_code=trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, trust_remote_code=trust_remote_code,
                                                     **_hub_kwargs(path))
    except OSError as err:
        raise PtstError(_load_failure(ref, err)) from None
    if adapter:
        model = _attach_adapter(model, adapter, merge=merge_adapter and not for_training)
    if not for_training:  # for training the Trainer places the model (one device per process)
        model.to(device)
        model.eval()
    return LoadedModel(model, tokenizer, ref, path, adapter, str(torch_dtype).removeprefix("torch."), device)


def _attach_adapter(model, adapter: str, *, merge: bool):
    from peft import PeftModel

    adir = Path(adapter)
    if not (adir / "adapter_config.json").is_file():
        hint = " (it holds a full model: pass it as --model instead)" if (adir / "config.json").is_file() else ""
        raise PtstError(f"--adapter {adapter}: no adapter_config.json found{hint}")
    base = json.loads((adir / "adapter_config.json").read_text()).get("base_model_name_or_path")
    peft_model = PeftModel.from_pretrained(model, adapter, is_trainable=not merge)
    if base and Path(base).name != Path(model.config._name_or_path or "").name:
        import sys

        sys.stderr.write(f"ptst: note: adapter {adapter} was trained on {base}\n")
    return peft_model.merge_and_unload() if merge else peft_model


def _load_failure(ref: str, err: Exception) -> str:
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return (f"--model {ref}: cannot load it ({first}); give a local model directory, a reachable hub id, or an "
            f"embedded model (`ptst models list`)")
