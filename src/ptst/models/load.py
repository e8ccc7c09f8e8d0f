"""Load a model (a hub id, a local directory or an embedded model), its tokenizer, and a PEFT adapter."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ptst.core.errors import PtstError
from ptst.core.hub import prepare_hub_access
from ptst.models.embedded import embedded, prepare
from ptst.models.records import AdapterConfig, check_model_dir, read_json_record

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Device = Literal["auto", "cpu", "cuda", "mps"]
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


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
    if Path(ref).is_dir():
        check_model_dir(ref)
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
    except PtstError:
        raise
    except Exception as err:  # OSError, ValueError, KeyError, TypeError...: files transformers cannot use
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


def bf16_unit(device: str) -> str | None:
    """The hardware that makes bfloat16 matrix products fast on `device`, or None: a CUDA GPU with bf16, or a CPU
    with AMX or AVX512-BF16 (which oneDNN uses through torch)."""
    import torch

    if device.startswith("cuda"):
        return "CUDA bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else None
    if device != "cpu":
        return None
    cpu = torch.cpu
    if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return "AMX"
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "AVX512-BF16"
    return None


def resolve_dtype(dtype: str, device: str = "auto") -> str:
    """The compute type `dtype` means on `device`: auto is bfloat16 where the hardware multiplies bf16 matrices
    fast (`bf16_unit`), float32 elsewhere; any other value is itself. float32 is the exact reference."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if bf16_unit(pick_device(device)) else "float32"


def pick_dtype(dtype: str, device: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
        resolve_dtype(dtype, device)]


def load_model(ref: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
               trust_remote_code: bool = False, merge_adapter: bool = True, for_training: bool = False
               ) -> LoadedModel:
    """Load base + optional adapter. For generation the LoRA weights are merged into the base (same function,
    fewer matmuls); `for_training` keeps the model in train mode and unmerged."""
    import torch
    from transformers import AutoModelForCausalLM

    if adapter:
        check_adapter_dir(adapter)  # before minutes of loading the base model
    path = resolve_model_path(ref)
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    merge = bool(adapter) and merge_adapter and not for_training
    # A LoRA update merged into 16-bit weights is rounded twice (the update, then the sum); on a CPU the update is
    # merged into float32 weights and the sum rounded once, the closest 16-bit model to base + adapter.
    merge_in_float32 = merge and torch_dtype != torch.float32 and device == "cpu"
    tokenizer = load_tokenizer(ref, trust_remote_code=trust_remote_code)
    try:
        with _quiet_local_loading(path):
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch.float32 if merge_in_float32 else torch_dtype, trust_remote_code=trust_remote_code,
                **_hub_kwargs(path))
    except PtstError:
        raise
    except Exception as err:  # OSError, ValueError, RuntimeError (shapes that do not fit the weights)...
        raise PtstError(_load_failure(ref, err)) from None
    if adapter:
        model = _attach_adapter(model, adapter, merge=merge)
    if merge_in_float32:
        _round_parameters(model, torch_dtype)
    if not for_training:  # for training the Trainer places the model (one device per process)
        model.to(device)
        model.eval()
        _contiguous_head_input(model)
    return LoadedModel(model, tokenizer, ref, path, adapter, str(torch_dtype).removeprefix("torch."), device)


def _contiguous_head_input(model) -> None:
    """Hand the output projection a contiguous input. transformers slices the last position out of a prefill
    (`logits_to_keep`), and torch's CPU matmul, given such a strided 3-D input and a weight that needs no gradient
    (as after a merged adapter), multiplies by a copy of the whole (vocabulary x hidden) weight per row: a
    151,936-row head took 21 s for a batch of 32 in bfloat16 instead of 0.05 s (0.7 s instead of 0.18 in
    float32). A copy of one position per row avoids it."""
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(), *args[1:]))


def _round_parameters(model, dtype) -> None:
    """Round the (float32-merged) weights to `dtype` and leave the model as `from_pretrained(dtype=...)` leaves
    one: buffers such as RoPE's inverse frequencies stay float32 (`model.to(dtype)` would round them too), and the
    config names the new dtype."""
    for param in model.parameters():
        param.data = param.data.to(dtype)
    model.config.dtype = dtype


@contextmanager
def _quiet_local_loading(path: str):
    """No 'Loading weights' bar and no load report for a model already on disk (ptst shows its own progress, and
    says in one line why a model does not load; the bar's carriage returns would bury it); downloads of hub models
    keep theirs."""
    from transformers.utils import logging as hf_logging

    quiet = Path(path).is_dir() and hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    if quiet:
        hf_logging.disable_progress_bar()
    if Path(path).is_dir():
        hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if quiet:
            hf_logging.enable_progress_bar()


def _attach_adapter(model, adapter: str, *, merge: bool):
    from peft import PeftModel

    base = check_adapter_dir(adapter).get("base_model_name_or_path")
    try:
        peft_model = PeftModel.from_pretrained(model, adapter, is_trainable=not merge)
    except Exception as err:  # peft raises ValueError, RuntimeError, KeyError... for an adapter that does not fit
        raise PtstError(f"--adapter {adapter}: cannot attach it to the model ({_first_line(err)})") from None
    if base and Path(base).name != Path(model.config._name_or_path or "").name:
        from ptst.core.console import note

        note(f"ptst: note: adapter {adapter} was trained on {base}")
    return peft_model.merge_and_unload() if merge else peft_model


def check_adapter_dir(adapter: str) -> dict:
    """A PEFT adapter directory checked without loading anything (so a damaged one never sends peft to the hub):
    a readable adapter_config.json naming its peft_type, and a weights file whose header reads. Returns the
    config."""
    adir = Path(adapter)
    if not adir.is_dir():
        what = "is a file" if adir.exists() else "not found"
        raise PtstError(f"--adapter {adapter}: {what}; give a PEFT adapter directory (as `ptst train` writes)")
    config_path = adir / "adapter_config.json"
    if not config_path.is_file():
        hint = " (it holds a full model: pass it as --model instead)" if (adir / "config.json").is_file() else ""
        raise PtstError(f"--adapter {adapter}: no adapter_config.json found{hint}")
    config = read_json_record(config_path, AdapterConfig, "adapter config")
    weights = [adir / name for name in ADAPTER_WEIGHTS if (adir / name).is_file()]
    if not weights:
        raise PtstError(f"--adapter {adapter}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)}); the adapter "
                        "is incomplete")
    if weights[0].suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(weights[0]), framework="pt") as f:
                f.keys()
        except Exception as err:  # SafetensorError and OSError subclasses for truncated or foreign files
            raise PtstError(f"{weights[0]}: damaged adapter weights ({_first_line(err)})") from None
    return config


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def _load_failure(ref: str, err: Exception) -> str:
    first = _first_line(err)
    if "ignore_mismatched_sizes" in first:
        first = "its weights do not fit its config.json: tensor sizes differ"
    return (f"--model {ref}: cannot load it ({first}); give a local model directory, a reachable hub id, or an "
            f"embedded model (`ptst models list`)")


def context_length(loaded: LoadedModel) -> int | None:
    """The most positions the model was built for (its config's max_position_embeddings; the tokenizer's
    model_max_length when the config has none), or None when neither says."""
    config = getattr(loaded.model, "config", None)
    if config is None:  # engines that load the weights themselves (vLLM): read the config file only
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(loaded.path, local_files_only=True)
        except Exception:  # no readable config: the tokenizer's limit, if any, still applies
            config = None
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    positions = getattr(text_config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        return positions
    limit = getattr(loaded.tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10_000_000 else None


def check_prompts_fit(loaded: LoadedModel, prompt_ids, max_new_tokens: int, names) -> None:
    """Refuse, naming the first item, any prompt that with `max_new_tokens` does not fit the model's context:
    past it a model decodes garbage instead of failing."""
    context = context_length(loaded)
    if context is None:
        return
    for ids, name in zip(prompt_ids, names, strict=True):
        if len(ids) + max_new_tokens > context:
            over = "is longer than" if len(ids) >= context else f"with --max-new-tokens {max_new_tokens} exceeds"
            raise PtstError(f"item {name}: its prompt of {len(ids)} tokens {over} the context of {loaded.ref} "
                            f"({context} tokens); shorten the input or use a model with a longer context")
