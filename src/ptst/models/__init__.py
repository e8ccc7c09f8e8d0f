"""Models: embedded models and their cache, loading base + adapter + tokenizer, and batched generation."""

from ptst.models.embedded import EmbeddedModel, embedded, prepare
from ptst.models.load import LoadedModel, load_model, load_tokenizer, resolve_model_path

__all__ = ["EmbeddedModel", "LoadedModel", "embedded", "load_model", "load_tokenizer", "prepare",
           "resolve_model_path"]
