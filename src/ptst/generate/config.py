"""`ptst generate` options; each field is also a command-line flag."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from ptst.data.source import DataSource
from ptst.models.engines import Decoding
from ptst.models.options import EngineOption, RenderOptions, RuntimeOptions


class GenerateConfig(EngineOption, RuntimeOptions, Decoding, RenderOptions, DataSource):
    """Data-set options (DataSource), rendering, decoding, runtime and engine options, and what generation needs."""

    model_config = ConfigDict(extra="forbid", frozen=False)
    model: str = Field(description="hub id, local model directory, or embedded:NAME")
    adapter: str | None = Field(None, description="PEFT adapter directory trained on the model")
    template: str = Field(description="test template name (see `ptst templates list`) or YAML file")
    template_file: list[str] = Field(default_factory=list, description="YAML files of extra templates")
    out: str = Field(description="JSONL file to write; re-running skips the ids already in it")
    batch_size: int | None = Field(None, ge=1, description="prompts per batch (default: sized by length, up to "
                                   "64 rows within a 16k-token budget)")
    trust_remote_code: bool = Field(False, description="allow code shipped with the model")

    def decoding(self) -> Decoding:
        return Decoding(**self.model_dump(include=set(Decoding.model_fields)))
