"""The engine interface and registry. An engine turns prompt token ids into generations, batch by batch.

ptst renders and tokenises every prompt itself (`ptst.templates.render`), so every engine sees exactly the same
token ids and stops at the same tokens; engines differ only in how they decode. Add one with one module that
defines a class with the `Engine` attributes and decorates it with `@engines.add_class`, plus the module in the
registry's `plugins` below (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from ptst.core.errors import PtstError
from ptst.core.registry import Registry
from ptst.core.validation import Seed
from ptst.models.load import LoadedModel, load_model
from ptst.templates.render import end_of_turn


class Decoding(BaseModel):
    """What changes the generated text. Greedy (temperature 0) is the paper's setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_new_tokens: int = Field(256, ge=1, description="most tokens generated per sample")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy (the paper's setting); above 0 samples")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass (when sampling)")
    top_k: int = Field(0, ge=0, description="sample from the k most likely tokens; 0 = off (when sampling)")
    seed: Seed = Field(0, description="sampling seed")


@dataclass(frozen=True)
class Generation:
    index: int  # position in the prompts given
    text: str
    finish_reason: str  # stop | length
    prompt_tokens: int
    output_tokens: int


Done = Callable[[int], bool]


class Engine(Protocol):
    """A generation engine. `per_request_adapters`: one loaded engine serves many LoRA adapters, one per request
    (vLLM); otherwise the adapter is part of the loaded model and `adapters` must be None."""

    name: str
    description: str
    per_request_adapters: bool

    def check(self) -> None:
        """Raise PtstError (one line: what to install) when the engine cannot run here; called before any work."""

    def load(self, model: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
             trust_remote_code: bool = False) -> LoadedModel:
        """What `generate` needs: at least the tokenizer and where the weights are."""

    def generate(self, loaded: LoadedModel, prompt_ids: Sequence[Sequence[int]], decoding: Decoding, *,
                 adapters: Sequence[str | None] | None = None, batch_size: int | None = None,
                 done: Done = lambda i: False, on_token: Callable[[int, int], None] | None = None
                 ) -> Iterator[list[Generation]]:
        """Generations of the prompts not `done`, yielded as batches finish (callers store each at once)."""


engines: Registry[Engine] = Registry("engine", plugins=[f"ptst.models.engines.{name}"
                                                          for name in ("ptst", "hf", "vllm", "llamacpp")])


class LocalWeights:
    """For engines that run the model in this process through torch: load base + merged adapter."""

    per_request_adapters = False

    def check(self) -> None:
        return None

    def load(self, model: str, *, adapter: str | None = None, dtype: str = "auto", device: str = "auto",
             trust_remote_code: bool = False) -> LoadedModel:
        return load_model(model, adapter=adapter, dtype=dtype, device=device, trust_remote_code=trust_remote_code)


def stop_token_ids(tokenizer) -> list[int]:
    """EOS plus the chat template's end-of-turn token when it is a single token (e.g. <|im_end|>)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if getattr(tokenizer, "chat_template", None):
        eot = tokenizer.encode(end_of_turn(tokenizer), add_special_tokens=False)
        if len(eot) == 1 and eot[0] not in ids:
            ids.append(eot[0])
    return ids


def pad_token_id(tokenizer, stops: Sequence[int]) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]


MIN_SHARED_PREFIX = 16  # tokens; below this a shared prefix is not worth a separate pass
TOKEN_BUDGET = 16384  # tokens (prompt + new) per automatically sized batch
MAX_ROWS = 64


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


def require_one_adapter(engine: Engine, adapters: Sequence[str | None] | None) -> None:
    if adapters is not None:
        raise PtstError(f"engine {engine.name} takes its adapter when the model is loaded, not per request")
