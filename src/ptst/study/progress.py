"""The study's display: one overall bar (work done of all work) and one line for the current stage."""

from __future__ import annotations


class StudyProgress:
    def __init__(self, total_units: float, enabled: bool = True):
        self.total, self.enabled = total_units, enabled

    def __enter__(self) -> StudyProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TimeElapsedColumn(), console=Console(stderr=True))
            self._p.__enter__()
            self._overall = self._p.add_task("[bold]study", total=self.total)
            self._stage = self._p.add_task("", total=1)
        return self

    def stage(self, description: str, total: int) -> None:
        if self.enabled:
            self._p.reset(self._stage, description=f"  {description}", total=max(total, 1), completed=0)

    def advance(self, stage: int = 1, overall: float = 0.0) -> None:
        if self.enabled:
            self._p.update(self._stage, advance=stage)
            self._p.update(self._overall, advance=overall)

    def note(self, message: str) -> None:
        if self.enabled:
            self._p.console.print(message, markup=False, highlight=False)
        else:
            import sys

            sys.stderr.write(message + "\n")

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._p.__exit__(*exc)


def trainer_callback(progress: StudyProgress, step_units: float):
    """A transformers TrainerCallback that advances the study display one optimiser step at a time."""
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            progress.stage("training", state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            progress.advance(1, step_units)

    return _Steps()
