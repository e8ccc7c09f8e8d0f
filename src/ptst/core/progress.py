"""The one progress display for every long job (stderr, on the one console); a no-op when disabled.
At a terminal: a rich bar of the work done, optionally the rate, and a second line for the current stage of a
many-stage job. Anywhere else (a log file, a pipe): plain lines (ptst.core.progress_lines)."""

from __future__ import annotations

from ptst.core.progress_lines import ProgressLines, line_interval


class ProgressBar:
    def __init__(self, label: str, total: float, *, enabled: bool = True, rate: bool = False,
                 stages: bool = False, cost_total: float | None = None):
        """`cost_total`: the job's estimated seconds, when its units cost different times (see ProgressLines)."""
        self.label, self.total, self.enabled, self.rate, self.stages = label, total, enabled, rate, stages
        self.cost_total = cost_total
        self._lines: ProgressLines | None = None

    def __enter__(self) -> ProgressBar:
        if not self.enabled:
            return self
        from ptst.core.console import err

        if not err().is_terminal:
            self._lines = ProgressLines(self.label, self.total, every=line_interval(), cost_total=self.cost_total)
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if self.rate:
            columns.append(TextColumn("{task.fields[rate]}"))
        columns.append(TimeElapsedColumn() if self.stages else TimeRemainingColumn())
        self._bar = Progress(*columns, console=err())
        self._bar.__enter__()
        self._task = self._bar.add_task(self.label, total=self.total, rate="")
        self._stage = self._bar.add_task("", total=1, rate="") if self.stages else None
        return self

    def advance(self, n: float = 1, rate: str = "", *, stage: float = 0, cost: float = 0) -> None:
        """`n` more units of the whole (estimated to take `cost` seconds); `stage` more of the current stage."""
        if self._lines is not None:
            self._lines.advance(n, rate, stage, cost)
        elif self.enabled:
            self._bar.update(self._task, advance=n, rate=rate)
            if self._stage is not None:
                self._bar.update(self._stage, advance=stage)

    def stage(self, description: str, total: int) -> None:
        """Start a new stage line (jobs made with `stages=True`)."""
        if self._lines is not None:
            if self.stages:
                self._lines.stage(description, total)
        elif self.enabled and self._stage is not None:
            self._bar.reset(self._stage, description=f"  {description}", total=max(total, 1), completed=0)

    def note(self, message: str) -> None:
        """A line above the bars (or on stderr when there are none)."""
        if self.enabled and self._lines is None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            from ptst.core.console import note

            note(message)

    def __exit__(self, *exc) -> None:
        if self._lines is not None:
            self._lines.close(failed=exc[0] is not None)
            self._lines = None
        elif self.enabled:
            self._bar.__exit__(*exc)
