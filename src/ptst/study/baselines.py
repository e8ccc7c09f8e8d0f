"""Baselines from the literature as extra rows of a study's grid: fine-tuning runs on the same task data, seeds and
hyper-parameters as the study's training templates, but with refusal data mixed in, rendered under the task's
template (safety-data mixing, as in Lyu et al.'s and Bianchi et al.'s experiments) or under a template of its own
(Backdoor-Enhanced Safety Alignment, Wang et al. 2024: a few refusals under a secret system prompt, see
`ptst.templates.secret`). A baseline may add test templates that only its own runs are tested with (BEA's secret
prompt is useless to a model that never saw it).

    train:
      templates: [chat:vanilla, chat:llama]
      baselines:
        - {name: safety-mix, template: chat:vanilla, mix: "safety-mix:53", mix_file: ...}
        - {name: bea, template: chat:vanilla, mix: "safety-mix:11", mix_file: ..., mix_template: bea:secret,
           test_templates: [bea:secret], reference_test: bea:secret}

In tables a baseline's row is its name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ptst.core.paths import name_problem


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the row's name in tables (no ':', so it never reads as a template), e.g. bea")
    template: str = Field(description="training template of the task data")
    mix: str = Field(description="refusal data to mix in: NAME[:N]")
    mix_file: str | None = Field(None, description="local file of the mix data set")
    mix_template: str | None = Field(None, description="template of the mix data (default: `template`), e.g. a "
                                     "secret system prompt")
    mix_repeat: int = Field(1, ge=1, le=1000, description="show the mix examples N times per epoch (BEA: its "
                            "authors train the refusals for 5 epochs)")
    test_templates: list[str] = Field(default_factory=list, description="test templates for this baseline's runs "
                                      "only, after the study's own")
    reference_test: str | None = Field(None, description="the test template the baseline is deployed with, one of "
                                       "the study's or its own, for the comparisons the report highlights "
                                       "(default: `template`)")
    description: str = Field("", description="one line for the report")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if not v or ":" in v or any(c.isspace() for c in v) or v == "base":
            raise ValueError(f"baseline name {v!r} must be non-empty, without ':' or spaces, and not 'base'")
        if name_problem(v):  # it names the run's training directory
            raise ValueError(name_problem(v))
        return v

    @property
    def deployed_with(self) -> str:
        return self.reference_test or self.template
