"""Where a study's evaluation work runs. An executor takes the study's evaluation tasks (a model variant and its
cells: `ptst.study.evaluate.EvalTask`) and a context (`EvalContext`: the run's config, directory, store, engine,
scorers and progress display) and has every task evaluated: `context.evaluate(task)` generates the task's
missing samples and scores them. `local` runs the tasks here, one after another.

Adding an executor (say, one that spreads tasks over Ray workers): one module that defines a class with `name`
and `run(tasks, context)`, decorated with `@executors.add_class`, plus the module in the registry's `plugins`. A
remote worker builds its own context with `EvalContext.open(context.cfg, context.run_dir)`: the store is a
SQLite file in the run directory, every finished batch one transaction, so several processes can write to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ptst.core.registry import Registry


class Executor(Protocol):
    name: str
    trains_ahead: bool  # trains every run in `train`, then takes every evaluation task at once

    def check(self) -> None:
        """Raise PtstError (one line: what to install) when the executor cannot run here; called before any work."""

    def train(self, runs: Sequence[Any], context: Any) -> None:
        """Train the study's runs (TrainingRun) ahead of evaluation, recording each in the store; runs left
        untrained are trained by the runner, one by one, each just before its evaluation."""

    def run(self, tasks: Sequence[Any], context: Any) -> None:
        """Evaluate every task (EvalTask) with the context (EvalContext)."""


executors: Registry[Executor] = Registry("executor", plugins=["ptst.study.ray_executor"])


@executors.add_class
class LocalExecutor:
    name = "local"
    trains_ahead = False

    def check(self) -> None:
        return None

    def train(self, runs: Sequence[Any], context: Any) -> None:
        return None  # the runner trains each run just before evaluating it, so results come in early

    def run(self, tasks: Sequence[Any], context: Any) -> None:
        for task in tasks:
            context.evaluate(task)

