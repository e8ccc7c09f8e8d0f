"""Progress for logs (ptst.core.progress uses it when stderr is not a terminal): a plain line every
`PTST_PROGRESS_SECONDS` seconds (default 15), whether or not work finished in between, and one when the job
ends; never a carriage return."""

from __future__ import annotations

import os
import sys
import threading
import time

DEFAULT_SECONDS = 15.0


def line_interval() -> float:
    """Seconds between progress lines off a terminal: `PTST_PROGRESS_SECONDS`, or 15."""
    raw = os.environ.get("PTST_PROGRESS_SECONDS", "")
    try:
        return max(float(raw), 0.0) if raw.strip() else DEFAULT_SECONDS
    except ValueError:
        return DEFAULT_SECONDS


class ProgressLines:
    """Progress for logs: 'LABEL: done/total (p%), elapsed, about T left; stage k/n' on stderr at most every
    `every` seconds (a heartbeat thread writes one even while a long batch runs), a first line at the start and a
    last one at the end. With `cost_total` (the job's estimated seconds) the time left is the estimate's share
    still to do at the pace so far, not the share of units: a study's units (training examples, samples of short
    and long answers) cost different times. `clock` and `out` are seams for tests."""

    def __init__(self, label: str, total: float, *, every: float = DEFAULT_SECONDS, clock=time.monotonic,
                 out=None, heartbeat: bool = True, cost_total: float | None = None):
        from rich.text import Text

        self.label, self.total, self.every, self.clock = Text.from_markup(label).plain, total, every, clock
        self.out = out
        self.done, self.rate_text, self.stage_text, self.stage_done, self.stage_total = 0.0, "", "", 0.0, 0
        self.cost_total, self.cost_done = cost_total, 0.0
        self.started = self.last = clock()
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._write("started")
        self._thread = None
        if heartbeat and every > 0:
            self._thread = threading.Thread(target=self._beat, name="ptst-progress", daemon=True)
            self._thread.start()

    def advance(self, n: float, rate: str = "", stage: float = 0, cost: float = 0) -> None:
        with self._lock:
            self.done += n
            self.cost_done += cost
            self.stage_done += stage
            self.rate_text = rate or self.rate_text
        self._maybe_write()

    def stage(self, description: str, total: int) -> None:
        with self._lock:
            self.stage_text, self.stage_done, self.stage_total = description.strip(), 0.0, total
        self._maybe_write()

    def close(self, failed: bool = False) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._write("stopped" if failed else "done")

    def line(self, event: str = "") -> str:
        elapsed = self.clock() - self.started
        parts = [f"{self.label}: {_count(self.done)}/{_count(self.total)}"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.1f}%)"
        parts.append(f"{_duration(elapsed)} elapsed")
        if event == "done":
            parts[-1] = f"done in {_duration(elapsed)}"
        elif event == "stopped":
            parts[-1] = f"stopped after {_duration(elapsed)}"
        elif event == "started":
            parts[-1] = "started"
        elif 0 < self.done < self.total and elapsed > 0:
            done, total = (self.cost_done, self.cost_total) if self.cost_total else (self.done, self.total)
            if done > 0:
                parts.append(f"about {_duration(elapsed * max(total - done, 0.0) / done)} left")
        if self.rate_text:
            parts.append(self.rate_text)
        text = ", ".join(parts)
        if self.stage_text and event not in ("done", "stopped", "started"):
            text += f"; {self.stage_text} {_count(self.stage_done)}/{_count(self.stage_total)}"
        return text

    def _maybe_write(self) -> None:
        if self.clock() - self.last >= self.every:
            self._write()

    def _beat(self) -> None:
        while not self._stop.wait(max(self.every / 4, 0.05)):
            self._maybe_write()

    def _write(self, event: str = "") -> None:
        with self._lock:
            self.last = self.clock()
            out = self.out or sys.stderr
            out.write(self.line(event) + "\n")
            out.flush()


def _count(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
