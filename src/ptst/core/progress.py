"""One progress bar for every long stage (on stderr, via rich); a no-op when disabled."""

from __future__ import annotations


class ProgressBar:
    def __init__(self, label: str, total: int, *, enabled: bool = True, rate: bool = False):
        self.label, self.total, self.enabled, self.rate = label, total, enabled, rate

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            columns = [TextColumn(self.label), BarColumn(), MofNCompleteColumn()]
            if self.rate:
                columns.append(TextColumn("{task.fields[rate]}"))
            self._bar = Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True))
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        return self

    def advance(self, n: int = 1, rate: str = "") -> None:
        if self.enabled:
            self._bar.update(self._task, advance=n, rate=rate)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
