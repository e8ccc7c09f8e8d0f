"""ptst's own decoding loop: what makes batched generation fast on a CPU and lets the server stream.

- The prompt prefix shared by every prompt (the chat markup and the test template's system prompt) is run
  through the model once; its key/value cache is copied into every batch.
- Each batch is left-padded between the shared prefix and its own suffixes; explicit position ids keep every
  row's positions those of the unpadded prompt, so results match unbatched decoding up to float rounding.
- Finished rows leave the batch (their cache rows are dropped), so long answers do not drag short ones along.
Greedy decoding picks the arg-max exactly as `transformers.generate` does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class RowResult:
    tokens: list[int]
    finish_reason: str  # stop | length


def common_prefix(seqs: Sequence[Sequence[int]], *, leave: int = 1) -> int:
    """Length of the token prefix all sequences share, leaving at least `leave` tokens of each as a suffix."""
    if not seqs:
        return 0
    n = min(len(s) for s in seqs) - leave
    first = seqs[0]
    for k in range(max(n, 0)):
        t = first[k]
        if any(s[k] != t for s in seqs):
            return k
    return max(n, 0)


def _forward_kw(model, cache) -> dict:
    """transformers 5.2x renames `past_key_values` -> `cache`; use whichever forward takes. Ask for the last
    position's logits only (`logits_to_keep`): a wide prefill would otherwise build a (rows x length x vocab)
    tensor of gigabytes."""
    import inspect

    params = inspect.signature(model.forward).parameters
    kw = {"cache" if "cache" in params else "past_key_values": cache, "use_cache": True}
    if "logits_to_keep" in params:
        kw["logits_to_keep"] = 1
    return kw


def prefill_prefix(model, prefix: Sequence[int]):
    """The key/value cache of the shared prefix (batch of one)."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    ids = torch.tensor([list(prefix)], device=model.device)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=torch.ones_like(ids), **_forward_kw(model, cache))
    return cache


def decode_batch(model, suffixes: Sequence[Sequence[int]], *, pad_id: int, stops: Sequence[int],
                 max_new_tokens: int, sample: Callable | None = None, prefix_cache=None, prefix_len: int = 0,
                 on_token: Callable[[int, int], None] | None = None) -> list[RowResult]:
    """Decode every row of a batch to a stop token or `max_new_tokens`. `sample(logits) -> ids` replaces the
    arg-max when sampling; `on_token(row, token)` sees each new token as it is chosen (for streaming)."""
    import torch
    from transformers import DynamicCache

    dev, batch = model.device, len(suffixes)
    width = max(len(s) for s in suffixes)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    suffix_mask = torch.zeros((batch, width), dtype=torch.long)
    for r, s in enumerate(suffixes):
        ids[r, width - len(s):] = torch.tensor(list(s))
        suffix_mask[r, width - len(s):] = 1
    if prefix_cache is not None:
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(batch)
    else:
        cache = DynamicCache(config=model.config)
    mask = torch.cat([torch.ones((batch, prefix_len), dtype=torch.long), suffix_mask], dim=1)
    positions = (prefix_len + suffix_mask.cumsum(1) - 1).clamp(min=prefix_len)
    stop_set, alive, kw = set(stops), list(range(batch)), _forward_kw(model, cache)
    out = [RowResult([], "length") for _ in range(batch)]
    with torch.inference_mode():
        logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=positions.to(dev),
                       **kw).logits[:, -1, :]
        last_pos = positions[:, -1]
        for _ in range(max_new_tokens):
            chosen = (sample(logits) if sample else logits.argmax(dim=-1)).tolist()
            keep = []
            for k, row in enumerate(alive):
                token = chosen[k]
                if token in stop_set:
                    out[row].finish_reason = "stop"
                    continue
                out[row].tokens.append(token)
                if on_token:
                    on_token(row, token)
                keep.append(k)
            if not keep or all(len(out[alive[k]].tokens) >= max_new_tokens for k in keep):
                break
            if len(keep) < len(alive):
                index = torch.tensor(keep, device=dev)
                cache.batch_select_indices(index)
                mask, last_pos = mask[keep], last_pos[keep]
            alive = [alive[k] for k in keep]
            step = torch.tensor([[chosen[k]] for k in keep], device=dev)
            mask = torch.cat([mask, torch.ones((len(keep), 1), dtype=torch.long)], dim=1)
            last_pos = last_pos + 1
            logits = model(input_ids=step, attention_mask=mask.to(dev), position_ids=last_pos[:, None].to(dev),
                           **kw).logits[:, -1, :]
    return out


def make_sampler(temperature: float, top_p: float, top_k: int, seed: int):
    """A sampler for `decode_batch` (None for greedy): temperature, then top-k, then nucleus (top-p)."""
    if temperature <= 0:
        return None
    import torch

    gen = torch.Generator().manual_seed(seed)

    def sample(logits):
        scores = logits.float() / temperature
        if top_k:
            kth = torch.topk(scores, min(top_k, scores.shape[-1]), dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if top_p < 1.0:
            sorted_scores, order = torch.sort(scores, descending=True, dim=-1)
            cum = sorted_scores.softmax(-1).cumsum(-1)
            drop = cum - sorted_scores.softmax(-1) > top_p
            sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
            scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
        probs = scores.softmax(-1).cpu()
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1).to(logits.device)

    return sample
