"""`generate(loaded, rendered prompts, decoding)`: for callers that hold a loaded model and rendered prompts (the
local judge, tests, benchmarks): tokenise exactly as rendered, then hand the token ids to a registered engine
(`ptst.models.engines`). Results come back batch by batch so callers can store them as they finish. (Cells of
`ptst generate` and studies go through `ptst.generate.cells`.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ptst.models.engines import Decoding, Generation, engines, plan_batches, stop_token_ids
from ptst.models.load import LoadedModel
from ptst.templates.render import Rendered, encode_rendered

__all__ = ["Decoding", "Generation", "encode_prompts", "generate", "plan_batches", "stop_token_ids"]


def encode_prompts(tokenizer, prompts: Sequence[Rendered]) -> list[list[int]]:
    return [encode_rendered(p, tokenizer) for p in prompts]


def generate(loaded: LoadedModel, prompts: Sequence[Rendered], decoding: Decoding, *, batch_size: int | None = None,
             done: Callable[[int], bool] = lambda i: False, backend: str = "ptst",
             on_token: Callable[[int, int], None] | None = None) -> Iterator[list[Generation]]:
    """Generate batch by batch over the fixed plan, skipping prompts that are `done`; yields each finished batch
    (callers store only the samples they lack). `backend` names a registered engine (default: ptst's own loop).
    `on_token(prompt_index, token_id)` streams, on engines that can."""
    engine = engines.get(backend)
    yield from engine.generate(loaded, encode_prompts(loaded.tokenizer, prompts), decoding, batch_size=batch_size,
                               done=done, on_token=on_token)
