"""The files of a model or adapter directory that ptst reads itself, as records: a directory given as `--model`
must hold a readable config.json and a tokenizer, an `--adapter` directory a PEFT adapter_config.json, each checked
before any weights load (transformers and peft fail on them with tracebacks, or go looking on the hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ptst.core.errors import PtstError
from ptst.core.io import read_text
from ptst.core.jsontext import parse_json_object
from ptst.core.validation import Text, validate_record

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")
_MAX_CONFIG_BYTES = 4 << 20


class _Open(BaseModel):
    """Strict: the file is handed on as read, so a value must already have its type ("1e30" is not a number)."""

    model_config = ConfigDict(extra="allow", strict=True)


class ModelConfig(_Open):
    """config.json of a transformers model, as far as ptst reads it, with sizes bounded generously above every
    published model's: transformers builds the model from these numbers before it reads a single weight, so a
    damaged one would otherwise allocate (or build a million layers) first and fail after."""

    model_type: str | None = None
    architectures: list[str] | None = None
    max_position_embeddings: int | None = Field(None, ge=1, le=2 ** 26)
    vocab_size: int | None = Field(None, ge=1, le=2 ** 22)
    hidden_size: int | None = Field(None, ge=1, le=2 ** 17)
    intermediate_size: int | None = Field(None, ge=1, le=2 ** 19)
    num_hidden_layers: int | None = Field(None, ge=1, le=1024)
    num_attention_heads: int | None = Field(None, ge=1, le=4096)
    num_key_value_heads: int | None = Field(None, ge=1, le=4096)
    head_dim: int | None = Field(None, ge=1, le=2 ** 14)


class TokenizerConfig(_Open):
    """tokenizer_config.json, as far as ptst and the tokenizer read it while ptst runs (transformers takes any
    value when it loads, and fails on a wrong type only later, mid-way through tokenising)."""

    model_max_length: int | float | None = Field(None, gt=0)
    eos_token: str | dict | None = None
    pad_token: str | dict | None = None
    bos_token: str | dict | None = None
    unk_token: str | dict | None = None
    chat_template: str | list[dict] | None = None
    padding_side: Literal["left", "right"] | None = None
    truncation_side: Literal["left", "right"] | None = None
    tokenizer_class: str | None = None
    added_tokens_decoder: dict[str, dict] | None = None


class GenerationConfig(_Open):
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | list[int] | None = None
    bos_token_id: int | list[int] | None = None


class AdapterConfig(_Open):
    """adapter_config.json of a PEFT adapter."""

    peft_type: str
    base_model_name_or_path: Text | None = None
    r: int | None = Field(None, ge=1)
    lora_alpha: float | None = None
    target_modules: list[str] | str | None = None
    task_type: str | None = None


def read_json_record(path: Path, model: type[_Open], what: str) -> dict:
    """A small JSON file as `model`, returned as read; errors name the file (and line, field)."""
    doc = parse_json_object(read_text(path, what, max_bytes=_MAX_CONFIG_BYTES), str(path), document=True,
                            wide_ints=True)
    validate_record(model, doc, str(path), wide_ints=True)
    return doc


def check_model_dir(ref: str, flag: str = "--model") -> None:
    """A local model directory holds a config.json that reads as a model config, and a tokenizer."""
    folder = Path(ref)
    config = folder / "config.json"
    if not config.is_file():
        hint = (" (it holds a PEFT adapter: pass it as --adapter, with its base model as --model)"
                if (folder / "adapter_config.json").is_file() else "")
        what = "is empty" if not any(folder.iterdir()) else "holds no config.json"
        raise PtstError(f"{flag} {ref}: {what}, so it is not a model directory{hint}; give a directory that "
                        "transformers' save_pretrained wrote (config.json, weights, tokenizer), a hub id, or an "
                        "embedded model (`ptst models list`)")
    doc = read_json_record(config, ModelConfig, "model config")
    if not doc.get("model_type") and not doc.get("architectures"):
        raise PtstError(f"{config}: names no model_type; not a transformers model config")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise PtstError(f"{flag} {ref}: no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}...); save the "
                        "tokenizer beside the model")
    for name, model in (("tokenizer_config.json", TokenizerConfig), ("generation_config.json", GenerationConfig)):
        if (folder / name).exists():
            read_json_record(folder / name, model, name.removesuffix(".json").replace("_", " "))
