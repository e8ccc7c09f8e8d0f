"""`ptst generate` options; each field is also a command-line flag."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ptst.data.source import DataSource


class GenerateConfig(DataSource):
    """Data-set options (from DataSource) plus what generation needs."""

    model: str = Field(description="hub id, local model directory, or embedded:NAME")
    adapter: str | None = Field(None, description="PEFT adapter directory trained on the model")
    template: str = Field(description="test template name (see `ptst templates list`) or YAML file")
    template_file: list[str] = Field(default_factory=list, description="YAML files of extra templates")
    markup: Literal["auto", "llama2"] = Field("auto", description="auto: the model's chat template")
    system_policy: Literal["auto", "native", "fold"] = Field(
        "auto", description="chat templates without a system role: fold the system prompt into the user turn")
    out: str = Field(description="JSONL file to write; re-running skips the ids already in it")
    max_new_tokens: int = Field(256, ge=1, description="most tokens generated per sample")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy (the paper's setting)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass")
    top_k: int = Field(0, ge=0, description="top-k sampling; 0 = off")
    seed: int = Field(0, description="sampling seed")
    batch_size: int | None = Field(None, ge=1, description="prompts per batch (default: sized by length, up to "
                                   "64 rows within a 16k-token budget)")
    engine: Literal["ptst", "hf", "vllm"] = Field(
        "ptst", description="ptst: own loop (shared-prefix reuse); hf: transformers.generate; vllm: GPU ([vllm])")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bf16 on GPU, fp32 on CPU")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="where to run")
    trust_remote_code: bool = Field(False, description="allow code shipped with the model")
