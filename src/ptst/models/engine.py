"""Batched generation over rendered prompts, used by `ptst generate`, local judges and the server.

Prompts are tokenised exactly as rendered, sorted by length into fixed batches (little padding, and the longest
batch first so a memory problem shows at once), left-padded, and decoded until the model's end-of-turn or EOS
token.
Results come back batch by batch so callers can store them as they finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ptst.models.load import LoadedModel
from ptst.templates.render import Rendered, encode_rendered, end_of_turn


class Decoding(BaseModel):
    """What changes the generated text. Greedy (temperature 0) is the paper's setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_new_tokens: int = Field(256, ge=1, description="most tokens generated per sample")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy; above 0 samples")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass (when sampling)")
    top_k: int = Field(0, ge=0, description="sample from the k most likely tokens; 0 = off (when sampling)")
    seed: int = Field(0, description="sampling seed")


MIN_SHARED_PREFIX = 16  # tokens; below this a shared prefix is not worth a separate pass
TOKEN_BUDGET = 16384  # tokens (prompt + new) per automatically sized batch
MAX_ROWS = 64


@dataclass(frozen=True)
class Generation:
    index: int  # position in the prompts given
    text: str
    finish_reason: str  # stop | length
    prompt_tokens: int
    output_tokens: int


def stop_token_ids(tokenizer) -> list[int]:
    """EOS plus the chat template's end-of-turn token when it is a single token (e.g. <|im_end|>)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if getattr(tokenizer, "chat_template", None):
        eot = tokenizer.encode(end_of_turn(tokenizer), add_special_tokens=False)
        if len(eot) == 1 and eot[0] not in ids:
            ids.append(eot[0])
    return ids


def encode_prompts(tokenizer, prompts: Sequence[Rendered]) -> list[list[int]]:
    return [encode_rendered(p, tokenizer) for p in prompts]


def plan_batches(lengths: Sequence[int], batch_size: int | None, *, max_new_tokens: int = 0,
                 token_budget: int = TOKEN_BUDGET, max_rows: int = MAX_ROWS) -> list[list[int]]:
    """Fixed batches over ALL prompts: longest first, ties by position. The plan depends only on the prompts, so a
    resumed run regenerates an unfinished batch with exactly the same companions (and the same padding) as an
    uninterrupted run would: greedy outputs stay identical. `batch_size` None sizes each batch by length: as many
    rows as fit `token_budget` (prompt + new tokens per row), at most `max_rows`; on a CPU, decoding is bound by
    reading the weights once per step, so wide batches multiply throughput."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    if batch_size:
        return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    batches, k = [], 0
    while k < len(order):
        rows = max(1, min(max_rows, token_budget // (lengths[order[k]] + max_new_tokens)))
        batches.append(order[k:k + rows])
        k += rows
    return batches


def generate(loaded: LoadedModel, prompts: Sequence[Rendered], decoding: Decoding, *, batch_size: int | None = None,
             done: Callable[[int], bool] = lambda i: False, backend: str = "ptst", share_prefix: bool = True,
             on_token: Callable[[int, int], None] | None = None) -> Iterator[list[Generation]]:
    """Generate batch by batch over the fixed plan, skipping batches whose every prompt is `done`; yields each
    finished batch (callers store only the samples they lack). `backend="hf"` uses `transformers.generate`
    (the reference loop of the benchmarks); the default is ptst's own loop (`ptst.models.decode`), which reuses
    the shared prompt prefix and lets finished rows leave. `on_token(prompt_index, token_id)` streams."""
    from ptst.models.decode import common_prefix, decode_batch, make_sampler, prefill_prefix

    tok, model = loaded.tokenizer, loaded.model
    ids = encode_prompts(tok, prompts)
    stops = stop_token_ids(tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
    prefix_len = common_prefix(ids) if share_prefix and len(ids) > 1 else 0
    prefix_len = prefix_len if prefix_len >= MIN_SHARED_PREFIX else 0
    prefix_cache = None
    if backend == "vllm":
        yield from _vllm(loaded, ids, decoding, stops, done)
        return
    plan = plan_batches([len(x) for x in ids], batch_size, max_new_tokens=decoding.max_new_tokens)
    for number, chunk in enumerate(plan):
        if all(done(i) for i in chunk):
            continue
        if backend == "hf":
            yield _hf_batch(loaded, ids, chunk, decoding, stops, pad, number)
            continue
        if prefix_len and prefix_cache is None:
            prefix_cache = prefill_prefix(model, ids[0][:prefix_len])
        rows = decode_batch(model, [ids[i][prefix_len:] for i in chunk], pad_id=pad, stops=stops,
                            max_new_tokens=decoding.max_new_tokens, prefix_cache=prefix_cache, prefix_len=prefix_len,
                            sample=make_sampler(decoding.temperature, decoding.top_p, decoding.top_k,
                                                decoding.seed * 100_003 + number),
                            on_token=(lambda r, t, chunk=chunk: on_token(chunk[r], t)) if on_token else None)
        yield [Generation(i, tok.decode(row.tokens, skip_special_tokens=True), row.finish_reason, len(ids[i]),
                          len(row.tokens)) for i, row in zip(chunk, rows, strict=True)]


def _vllm(loaded: LoadedModel, ids, decoding: Decoding, stops, done) -> Iterator[list[Generation]]:
    from ptst.models.vllm_engine import generate_vllm

    todo = [i for i in range(len(ids)) if not done(i)]
    outs = generate_vllm(loaded.path, [ids[i] for i in todo], stops=stops, max_new_tokens=decoding.max_new_tokens,
                         temperature=decoding.temperature, top_p=decoding.top_p, top_k=decoding.top_k,
                         seed=decoding.seed, adapters=[loaded.adapter] * len(todo) if loaded.adapter else None)
    yield [Generation(i, loaded.tokenizer.decode(tokens, skip_special_tokens=True), reason, len(ids[i]), len(tokens))
           for i, (tokens, reason) in zip(todo, outs, strict=True)]


def _hf_batch(loaded: LoadedModel, ids, chunk, decoding: Decoding, stops, pad, number) -> list[Generation]:
    import torch

    tok, model = loaded.tokenizer, loaded.model
    width = max(len(ids[i]) for i in chunk)
    input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
    mask = torch.zeros((len(chunk), width), dtype=torch.long)
    for row, i in enumerate(chunk):
        input_ids[row, width - len(ids[i]):] = torch.tensor(ids[i])
        mask[row, width - len(ids[i]):] = 1
    if decoding.temperature > 0:
        torch.manual_seed(decoding.seed * 100_003 + number)
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device),
                             eos_token_id=stops, pad_token_id=pad, **_sampling_kwargs(decoding))
    return [_result(tok, i, out[row, width:].tolist(), len(ids[i]), stops) for row, i in enumerate(chunk)]


def _sampling_kwargs(decoding: Decoding) -> dict:
    kw: dict = {"max_new_tokens": decoding.max_new_tokens, "do_sample": decoding.temperature > 0}
    if decoding.temperature > 0:
        kw.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=decoding.top_k or None)
    else:
        kw.update(temperature=None, top_p=None, top_k=None)
    return kw


def _result(tok, index: int, new: list[int], prompt_tokens: int, stops: list[int]) -> Generation:
    cut = next((k for k, t in enumerate(new) if t in stops), None)
    tokens = new if cut is None else new[:cut]
    text = tok.decode(tokens, skip_special_tokens=True)
    return Generation(index, text, "length" if cut is None else "stop", prompt_tokens, len(tokens))
