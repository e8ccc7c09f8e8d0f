"""`ptst`: ptst's own decoding loop (`ptst.models.decode`): the template's shared prompt prefix is computed once
and reused by every batch, finished rows leave the batch. Greedy outputs equal `transformers.generate`'s."""

from __future__ import annotations

from ptst.models.engines.base import (
    MIN_SHARED_PREFIX,
    Generation,
    LocalWeights,
    engines,
    pad_token_id,
    plan_batches,
    require_one_adapter,
    stop_token_ids,
)


@engines.add_class
class PtstEngine(LocalWeights):
    name = "ptst"
    description = "ptst's own loop (shared-prefix reuse, finished rows leave); CPU or GPU"

    def generate(self, loaded, prompt_ids, decoding, *, adapters=None, batch_size=None, done=lambda i: False,
                 on_token=None, share_prefix: bool = True):
        from ptst.models.decode import common_prefix, decode_batch, make_sampler, prefill_prefix

        require_one_adapter(self, adapters)
        tok, model, ids = loaded.tokenizer, loaded.model, prompt_ids
        stops = stop_token_ids(tok)
        pad = pad_token_id(tok, stops)
        prefix_len = common_prefix(ids) if share_prefix and len(ids) > 1 else 0
        prefix_len = prefix_len if prefix_len >= MIN_SHARED_PREFIX else 0
        prefix_cache = None
        for number, chunk in enumerate(plan_batches([len(x) for x in ids], batch_size,
                                                    max_new_tokens=decoding.max_new_tokens)):
            if all(done(i) for i in chunk):
                continue
            if prefix_len and prefix_cache is None:
                prefix_cache = prefill_prefix(model, ids[0][:prefix_len])
            rows = decode_batch(model, [ids[i][prefix_len:] for i in chunk], pad_id=pad, stops=stops,
                                max_new_tokens=decoding.max_new_tokens, prefix_cache=prefix_cache,
                                prefix_len=prefix_len,
                                sample=make_sampler(decoding.temperature, decoding.top_p, decoding.top_k,
                                                    decoding.seed * 100_003 + number),
                                on_token=(lambda r, t, chunk=chunk: on_token(chunk[r], t)) if on_token else None)
            yield [Generation(i, tok.decode(row.tokens, skip_special_tokens=True), row.finish_reason, len(ids[i]),
                              len(row.tokens)) for i, row in zip(chunk, rows, strict=True)]
