"""A training output directory, as `ptst train` and a study's training runs write it: a standard HF/PEFT model
or adapter directory, its `checkpoint-STEP/` directories, and RECORD (`ptst_train.json`, how it was trained),
written last, so a directory with a record holds a finished training run. `TrainingDir` is the one place that
knows these names: `save_record` / `load_record` write and read the record, `adapter(step)` is the adapter to
load."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import atomic_write_json, read_text
from ptst.core.jsontext import parse_json_object

RECORD = "ptst_train.json"
CHECKPOINT = "checkpoint-"
OWNED = (RECORD, f"{CHECKPOINT}*")  # files that mark a directory as ptst's own training output


class TrainingDir:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"TrainingDir({str(self.path)!r})"

    @property
    def record_path(self) -> Path:
        return self.path / RECORD

    def is_finished(self) -> bool:
        return self.record_path.is_file()

    def save_record(self, record: dict) -> None:
        """Write the training record (last, once the weights are saved: it marks the training finished)."""
        atomic_write_json(self.record_path, record)

    def load_record(self) -> dict:
        if not self.record_path.is_file():
            raise PtstError(f"{self.path}: no {RECORD}; not a finished ptst training directory")
        text = read_text(self.record_path, "training record")
        try:  # a loss curve may hold NaN, which Python's json writes
            return parse_json_object(text, str(self.record_path), document=True, allow_nan=True)
        except PtstError as err:
            raise PtstError(f"{err}; not a ptst training record") from None

    def checkpoint_steps(self) -> list[int]:
        """The steps of the saved checkpoints, in order."""
        steps = [p.name.removeprefix(CHECKPOINT) for p in self.path.glob(f"{CHECKPOINT}*") if p.is_dir()]
        return sorted(int(s) for s in steps if s.isdigit())

    def adapter(self, step: int | None = None) -> Path:
        """The model or adapter to load: the final one, or the checkpoint of STEP."""
        return self.path if step is None else self.path / f"{CHECKPOINT}{step}"

    def partial(self) -> TrainingDir:
        """A unique temporary sibling to train into, renamed into place when finished (`finish_into`): an
        interrupted attempt never leaves half a training directory under the final name."""
        return TrainingDir(self.path.parent / f".{self.path.name}.partial-{uuid.uuid4().hex[:8]}")

    def finish_into(self, final: TrainingDir) -> TrainingDir:
        """Rename this (finished) temporary directory to FINAL; when another attempt finished first (a retried
        task whose first try lived on: same seed, same result), keep that one and remove this."""
        try:
            self.path.rename(final.path)
        except OSError:
            if not final.is_finished():
                raise
            shutil.rmtree(self.path, ignore_errors=True)
        return final

    def remove_partials(self) -> None:
        """Temporary directories of attempts that never finished (their process was killed)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.partial*"):
            shutil.rmtree(leftover, ignore_errors=True)
