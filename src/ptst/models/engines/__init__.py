"""Generation engines, registered by name: `ptst` (ptst's own loop), `hf` (transformers.generate), `vllm`,
`llamacpp` (llama.cpp on the model's GGUF, the `[cpu-fast]` extra).

Adding an engine: one module here that registers itself (`@register_engine`), and its name in BUILTIN."""

import importlib

from ptst.models.engines.base import (
    Decoding,
    Engine,
    Generation,
    engines,
    get_engine,
    plan_batches,
    register_engine,
    stop_token_ids,
)

BUILTIN = ("ptst", "hf", "vllm", "llamacpp")
for _name in BUILTIN:
    importlib.import_module(f"ptst.models.engines.{_name}")

__all__ = ["BUILTIN", "Decoding", "Engine", "Generation", "engines", "get_engine", "plan_batches",
           "register_engine", "stop_token_ids"]
