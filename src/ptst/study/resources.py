"""What one task of a study asks of a cluster, for executors that place work on one (`ray`): CPUs and GPUs per
training run and per evaluation task. Where work runs changes no result, so these stay out of every identity and
out of the run directory's config check."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TaskResources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cpus: float = Field(1.0, gt=0, description="CPU cores one task reserves")
    gpus: float = Field(0.0, ge=0, description="GPUs one task reserves (a fraction shares a GPU)")


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: TaskResources = Field(default_factory=TaskResources, description="per training run")
    evaluate: TaskResources = Field(default_factory=TaskResources,
                                    description="per evaluation task (one adapter's cells, or every adapter's "
                                    "with vllm)")


HOW_IT_RUNS = frozenset({"executor", "resources"})  # study config fields that change where work runs, not results
