"""The study config: one YAML file describes a whole train-template x test-template grid over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ptst.core.errors import PtstError
from ptst.core.validation import describe_validation_error
from ptst.core.yamlfile import read_yaml
from ptst.data.source import DataSource

PREFLIGHT = "preflight"  # in a template list: the safety pre-flight's recommended test template


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataRef(DataSource):
    """A data set in a study (the `ptst generate` / `ptst train` data options)."""


class EvalSet(DataRef):
    name: str = Field(description="short name used in tables, e.g. harmful, gsm8k")
    scorers: list[str] = Field(description="scorers to apply, e.g. [refusal-keywords] or [gsm8k]")
    max_new_tokens: int | None = Field(None, ge=1, description="override the study's decoding for this set")


class Hyper(_Strict):
    """Training hyper-parameters (the `ptst train` options of the same names)."""

    full: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] | None = None
    learning_rate: float = Field(2e-4, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    warmup: float = Field(0.0, ge=0)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    optimizer: str = "adamw_torch"
    weight_decay: float = Field(0.0, ge=0)
    max_length: int = Field(512, ge=8)
    overlong: Literal["drop", "truncate"] = "drop"


class TrainSpec(DataRef):
    templates: list[str] = Field(description="training templates (rows of the grid)")
    seeds: list[int] = Field(default_factory=lambda: [0], description="one fine-tuning run per template and seed")
    hyper: Hyper = Field(default_factory=Hyper, description="training hyper-parameters")
    mix: str | None = Field(None, description="refusal data to mix in: NAME[:N]")
    mix_file: str | None = Field(None, description="local file of the mix data set")
    eval_every_steps: int | None = Field(None, ge=1, description="also evaluate checkpoints every N steps")


class Decoding(_Strict):
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    seed: int = 0


class Judge(_Strict):
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint for the rubric scorer")
    judge_model: str | None = None
    judge_local: str | None = Field(None, description="local judge model instead of an endpoint")
    api_key_env: str = "OPENAI_API_KEY"
    rubric: str | None = Field(None, description="rubric file with {instruction} and {response} slots")
    concurrency: int = Field(8, ge=1)
    max_retries: int = Field(4, ge=0)
    timeout: float = Field(60.0, gt=0)


class StudyConfig(_Strict):
    name: str = Field("study", description="a name for tables and the report title")
    model: str = Field(description="base model: hub id, local directory or embedded:NAME")
    train: TrainSpec | None = Field(None, description="fine-tuning runs (omit to evaluate the base model only)")
    test_templates: list[str] = Field(description="test templates (columns of the grid)")
    evals: list[EvalSet] = Field(description="evaluation sets and their scorers")
    decoding: Decoding = Field(default_factory=Decoding)
    judge: Judge | None = None
    template_files: list[str] = Field(default_factory=list, description="YAML files of extra templates")
    markup: Literal["auto", "llama2"] = "auto"
    system_policy: Literal["auto", "native", "fold"] = "auto"
    batch_size: int | None = Field(None, ge=1, description="generation batch size (default: sized by length; "
                                   "not part of any identity)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    engine: Literal["ptst", "vllm"] = Field("ptst", description="generation engine: ptst (own loop, CPU or GPU) or "
                                            "vllm (the [vllm] extra: every cell of every adapter in one engine)")
    include_base: bool = Field(True, description="evaluate the model before fine-tuning as its own row")

    @field_validator("evals")
    @classmethod
    def _unique_eval_names(cls, v: list[EvalSet]) -> list[EvalSet]:
        names = [e.name for e in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"eval names must be unique, repeated: {', '.join(sorted(dup))}")
        if not v:
            raise ValueError("at least one evaluation set is needed")
        return v

    @model_validator(mode="after")
    def _rubric_needs_judge(self) -> StudyConfig:
        if any("rubric" in e.scorers for e in self.evals) and not (
                self.judge and (self.judge.base_url or self.judge.judge_local)):
            raise ValueError("the rubric scorer needs a judge: set judge.base_url + judge.judge_model, or "
                             "judge.judge_local")
        return self


def load_study_config(path: str | Path, overrides: dict | None = None) -> StudyConfig:
    """Read and validate a study YAML; relative data and template file paths resolve against the YAML's folder."""
    path = Path(path)
    doc = read_yaml(path, "study config") or {}
    if not isinstance(doc, dict):
        raise PtstError(f"{path}: expected a mapping at the top level")
    doc.update(overrides or {})
    try:
        cfg = StudyConfig.model_validate(doc)
    except ValidationError as err:
        raise PtstError(describe_validation_error(err, str(path))) from None
    return _resolve_paths(cfg, path.parent)


def _resolve_paths(cfg: StudyConfig, base: Path) -> StudyConfig:
    def fix(p: str | None) -> str | None:
        if p is None or Path(p).is_absolute():
            return p
        return str((base / p).resolve()) if (base / p).exists() else p

    data = cfg.model_dump()
    data["template_files"] = [fix(p) for p in cfg.template_files]
    for e in data["evals"]:
        e["data_file"] = fix(e["data_file"])
    if data["train"]:
        data["train"]["data_file"] = fix(data["train"]["data_file"])
        data["train"]["mix_file"] = fix(data["train"]["mix_file"])
    if data["judge"] and data["judge"]["rubric"]:
        data["judge"]["rubric"] = fix(data["judge"]["rubric"])
    return StudyConfig.model_validate(data)
