"""`hf`: `transformers.generate` over the same left-padded batches (the reference loop of the benchmarks)."""

from __future__ import annotations

from ptst.models.engines.base import (
    Generation,
    LocalWeights,
    engines,
    pad_token_id,
    plan_batches,
    require_one_adapter,
    stop_token_ids,
)


@engines.add_class
class HfEngine(LocalWeights):
    name = "hf"
    description = "transformers.generate (the reference loop)"

    def generate(self, loaded, prompt_ids, decoding, *, adapters=None, batch_size=None, done=lambda i: False,
                 on_token=None):
        require_one_adapter(self, adapters)
        stops = stop_token_ids(loaded.tokenizer)
        pad = pad_token_id(loaded.tokenizer, stops)
        for number, chunk in enumerate(plan_batches([len(x) for x in prompt_ids], batch_size,
                                                    max_new_tokens=decoding.max_new_tokens)):
            if not all(done(i) for i in chunk):
                yield _batch(loaded, prompt_ids, chunk, decoding, stops, pad, number)


def _batch(loaded, ids, chunk, decoding, stops, pad, number) -> list[Generation]:
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


def _sampling_kwargs(decoding) -> dict:
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
