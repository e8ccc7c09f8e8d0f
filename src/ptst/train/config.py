"""`ptst train` options; each field is also a command-line flag. `Hyper` (the hyper-parameters) is the one
model that studies use too (`train.hyper` in a study YAML), so `ptst train` and a study train the same model
from the same defaults: LoRA r=16, alpha 32, dropout 0.05; learning rate 1e-4 (the paper's), one epoch,
8 examples per step."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ptst.core.validation import Seed
from ptst.data.source import DataSource
from ptst.models.options import RenderOptions, RuntimeOptions
from ptst.store.training_dir import RECORD


class Hyper(BaseModel):
    """Training hyper-parameters (part of a training run's identity)."""

    model_config = ConfigDict(extra="forbid")
    full: bool = Field(False, description="train all weights instead of a LoRA adapter")
    lora_r: int = Field(16, ge=1, le=4096, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout")
    lora_targets: list[str] | None = Field(None, description="module names for LoRA, comma-separated "
                                           "(default: per architecture)")
    learning_rate: float = Field(1e-4, gt=0.0, description="peak learning rate (the paper: 1e-4)")
    epochs: float = Field(1.0, gt=0.0, description="passes over the data")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimiser steps")
    batch_size: int = Field(8, ge=1, description="examples per device per step")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps")
    warmup: float = Field(0.0, ge=0.0, description="warm-up steps, or a fraction of all steps if below 1")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="learning-rate schedule")
    optimizer: str = Field("adamw_torch", description="a Trainer optimiser name")
    weight_decay: float = Field(0.0, ge=0.0, description="weight decay")
    max_length: int = Field(512, ge=8, description="most tokens per example (prompt + completion)")
    overlong: Literal["drop", "truncate"] = Field(
        "drop", description="examples over max_length: drop them, or cut the completion's end")

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        if name == "adamw_torch":  # the default: no need to import transformers to know it
            return name
        from transformers.training_args import OptimizerNames

        known = [o.value for o in OptimizerNames]
        if name not in known:
            raise ValueError(f"unknown optimizer {name!r}; the Trainer's are: {', '.join(known[:12])}, ...")
        return name


class TrainConfig(Hyper, RuntimeOptions, RenderOptions, DataSource):
    """Data-set options (DataSource), rendering and runtime options, the hyper-parameters, and the rest."""

    model: str = Field(description="hub id, local model directory, or embedded:NAME")
    template: str = Field(description="training template (PTST: one without a safety system prompt)")
    template_file: list[str] = Field(default_factory=list, description="YAML files of extra templates")
    mix: str | None = Field(None, description="add refusal data (under --mix-template): NAME[:N]",
                            json_schema_extra={"metavar": "NAME[:N]"})
    mix_file: str | None = Field(None, description="local file of the --mix data set")
    mix_repeat: int = Field(1, ge=1, le=1000, description="show the --mix examples N times per epoch (Backdoor-"
                            "Enhanced Safety Alignment trains its few refusals for 5 epochs: with one epoch of "
                            "task data, 5 repeats match it)", json_schema_extra={"metavar": "N"})
    mix_template: str | None = Field(None, description="template of the --mix data (default: --template), e.g. a "
                                     "secret system prompt for Backdoor-Enhanced Safety Alignment")
    out: str = Field(description=f"output directory: adapter (or model), tokenizer, {RECORD}")
    packing: bool = Field(False, description="pack each batch into one row, positions restarting per example: "
                          "no padding, no attention across examples")
    seed: Seed = Field(0, description="training seed")
    save_steps: int | None = Field(None, ge=1, description="write a checkpoint every N steps (for --resume)")
    logging_steps: int = Field(5, ge=1, description="log the loss every N steps")
    resume: bool = Field(False, description="continue from the last checkpoint in --out")
    dry_run: bool = Field(False, description="print a mask audit and the data statistics, then exit")
    audit_json: str | None = Field(None, description="write the audited examples' input_ids, labels and token "
                                   "strings to this JSON file")
    trust_remote_code: bool = Field(False, description="allow code shipped with the model")
