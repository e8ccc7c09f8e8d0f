"""`vllm`: offline batched generation with vLLM (the `[vllm]` extra, Linux with a CUDA GPU) over ptst's token ids
(vLLM never re-templates them), LoRA adapters attached per request (many adapters in one engine), tensor
parallel for large models. Same prompts and stop tokens as the other engines, so samples compare row for row.
Not exercised by CI, which has no GPU."""

from __future__ import annotations

from collections.abc import Sequence

from ptst.core.errors import PtstError
from ptst.models.engines.base import Generation, register_engine, stop_token_ids
from ptst.models.load import LoadedModel, load_tokenizer, resolve_model_path

INSTALL_HINT = ("the vllm engine needs vLLM: pip install 'ptst[vllm]' (Linux with a CUDA GPU); "
                "or use --engine ptst")


def require_vllm():
    try:
        import vllm
    except ImportError:
        raise PtstError(INSTALL_HINT) from None
    return vllm


@register_engine
class VllmEngine:
    name = "vllm"
    description = "vLLM on a CUDA GPU (the [vllm] extra); every adapter of a study in one engine"
    per_request_adapters = True

    def check(self) -> None:
        require_vllm()

    def load(self, model: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
             trust_remote_code: bool = False) -> LoadedModel:
        """vLLM loads the weights itself; ptst needs the tokenizer and the paths."""
        self.check()
        return LoadedModel(None, load_tokenizer(model, trust_remote_code=trust_remote_code), model,
                           resolve_model_path(model), adapter, dtype, "cuda")

    def generate(self, loaded, prompt_ids, decoding, *, adapters=None, batch_size=None, done=lambda i: False,
                 on_token=None):
        todo = [i for i in range(len(prompt_ids)) if not done(i)]
        if adapters is None and loaded.adapter:
            adapters = [loaded.adapter] * len(prompt_ids)
        stops = stop_token_ids(loaded.tokenizer)
        outs = generate_vllm(loaded.path, [prompt_ids[i] for i in todo], stops=stops,
                             max_new_tokens=decoding.max_new_tokens, temperature=decoding.temperature,
                             top_p=decoding.top_p, top_k=decoding.top_k, seed=decoding.seed, dtype=loaded.dtype,
                             adapters=[adapters[i] for i in todo] if adapters else None)
        yield [Generation(i, loaded.tokenizer.decode(tokens, skip_special_tokens=True), reason, len(prompt_ids[i]),
                          len(tokens)) for i, (tokens, reason) in zip(todo, outs, strict=True)]


def generate_vllm(model_path: str, prompt_ids: Sequence[Sequence[int]], *, stops: Sequence[int],
                  max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0, seed: int = 0,
                  adapters: Sequence[str | None] | None = None, tensor_parallel: int = 1, dtype: str = "auto",
                  max_lora_rank: int = 64) -> list[tuple[list[int], str]]:
    """(tokens, finish reason) per prompt; `adapters[i]` is the LoRA directory for prompt i (None: the base)."""
    vllm = require_vllm()
    from vllm.lora.request import LoRARequest

    use_lora = bool(adapters and any(adapters))
    llm = vllm.LLM(model=model_path, tensor_parallel_size=tensor_parallel, dtype=dtype, enable_lora=use_lora,
                   max_lora_rank=max_lora_rank, max_loras=max(1, len({a for a in adapters or [] if a})))
    params = vllm.SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k or -1, seed=seed,
                                 max_tokens=max_new_tokens, stop_token_ids=list(stops), skip_special_tokens=True)
    ids = {a: k + 1 for k, a in enumerate(sorted({a for a in adapters or [] if a}))}
    requests = [LoRARequest(f"adapter-{ids[a]}", ids[a], a) if a else None for a in (adapters or [])] or None
    prompts = [{"prompt_token_ids": list(p)} for p in prompt_ids]
    outs = llm.generate(prompts, params, lora_request=requests, use_tqdm=True)
    results = []
    for out in outs:
        completion = out.outputs[0]
        tokens = [t for t in completion.token_ids if t not in set(stops)]
        results.append((tokens, "stop" if completion.finish_reason == "stop" else "length"))
    return results
