"""The one progress display for every long job (stderr, via rich, on the one console); a no-op when disabled.
A bar of the work done; optionally the rate, and a second line for the current stage of a many-stage job."""

from __future__ import annotations


class ProgressBar:
    def __init__(self, label: str, total: float, *, enabled: bool = True, rate: bool = False,
                 stages: bool = False):
        self.label, self.total, self.enabled, self.rate, self.stages = label, total, enabled, rate, stages

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            from ptst.core.console import err

            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
            if self.rate:
                columns.append(TextColumn("{task.fields[rate]}"))
            columns.append(TimeElapsedColumn() if self.stages else TimeRemainingColumn())
            self._bar = Progress(*columns, console=err())
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
            self._stage = self._bar.add_task("", total=1, rate="") if self.stages else None
        return self

    def advance(self, n: float = 1, rate: str = "", *, stage: float = 0) -> None:
        """`n` more units of the whole; `stage` more of the current stage."""
        if self.enabled:
            self._bar.update(self._task, advance=n, rate=rate)
            if self._stage is not None:
                self._bar.update(self._stage, advance=stage)

    def stage(self, description: str, total: int) -> None:
        """Start a new stage line (jobs made with `stages=True`)."""
        if self.enabled and self._stage is not None:
            self._bar.reset(self._stage, description=f"  {description}", total=max(total, 1), completed=0)

    def note(self, message: str) -> None:
        """A line above the bars (or on stderr when there are none)."""
        if self.enabled:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            from ptst.core.console import note

            note(message)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
