"""The study's display (ptst.core.progress, with a stage line): the whole study's work, and the current stage.
Its time left weighs each unit by its estimated cost (`ptst.study.estimate.UnitCosts`), so that the slow
training runs at the start of a study do not make the generation after them look as slow."""

from __future__ import annotations

from ptst.core.progress import ProgressBar
from ptst.study.estimate import UnitCosts


class StudyProgress(ProgressBar):
    def __init__(self, total_units: float, enabled: bool = True, *, costs: UnitCosts | None = None,
                 cost_total: float | None = None):
        super().__init__("[bold]study", total_units, enabled=enabled, stages=True,
                         cost_total=cost_total if costs is not None else None)
        self.costs = costs

    def advance(self, stage: int = 1, overall: float = 0.0, *, cell_id: str | None = None) -> None:  # type: ignore[override]
        """`stage` more units of the current stage, `overall` more of the whole study: samples of the cell
        CELL_ID, or trained examples without one."""
        cost = self.costs.of(overall, cell_id) if self.costs is not None else 0.0
        super().advance(overall, stage=stage, cost=cost)


def trainer_callback(progress: StudyProgress, step_units: float):
    """A transformers TrainerCallback that advances the study display one optimiser step at a time."""
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            progress.stage("training", state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            progress.advance(1, step_units)

    return _Steps()
