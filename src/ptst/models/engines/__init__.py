"""Generation engines, registered by name: `ptst` (ptst's own loop), `hf` (transformers.generate), `vllm`,
`llamacpp` (llama.cpp on the model's GGUF, the `[cpu-fast]` extra).

Adding an engine: one module here whose class is decorated with `@engines.add_class`, and the module in the
registry's `plugins` (base.py)."""

from ptst.models.engines.base import Decoding, Engine, Generation, engines, plan_batches, stop_token_ids

__all__ = ["Decoding", "Engine", "Generation", "engines", "plan_batches", "stop_token_ids"]
