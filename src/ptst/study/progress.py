"""The study's display (ptst.core.progress, with a stage line): the whole study's work, and the current stage."""

from __future__ import annotations

from ptst.core.progress import ProgressBar


class StudyProgress(ProgressBar):
    def __init__(self, total_units: float, enabled: bool = True):
        super().__init__("[bold]study", total_units, enabled=enabled, stages=True)

    def advance(self, stage: int = 1, overall: float = 0.0) -> None:  # type: ignore[override]
        """`stage` more units of the current stage, `overall` more of the whole study."""
        super().advance(overall, stage=stage)


def trainer_callback(progress: StudyProgress, step_units: float):
    """A transformers TrainerCallback that advances the study display one optimiser step at a time."""
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            progress.stage("training", state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            progress.advance(1, step_units)

    return _Steps()
