"""Reduce a run directory to what its report needs: the store, the manifest, each training run's record and loss
curve (`ptst_train.json`, checkpoints' `trainer_state.json`) and adapter configs; adapter (or model) weights,
tokenizer copies and optimiser states go. Such a directory is small enough to commit, copy or upload as a job's
artefact, `ptst report` and `ptst merge` read it as any other, and a resumed run trains a removed adapter again
only when a cell that uses it is still unfinished (`ptst.study.training.ensure_trained`)."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ptst.store.study_store import FILENAME

KEEP = frozenset({"ptst_train.json", "adapter_config.json", "trainer_state.json"})  # records, a few KB each
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


@dataclass
class Stripped:
    removed_bytes: int
    kept_bytes: int
    samples: int

    def per_thousand_samples(self) -> float:
        return self.kept_bytes / self.samples * 1000 if self.samples else 0.0

    def summary(self, run_dir: Path) -> str:
        return (f"{run_dir}: removed {_size(self.removed_bytes)} of weights; kept {_size(self.kept_bytes)} for "
                f"{self.samples} samples ({_size(self.per_thousand_samples())} per 1,000 samples)")


def strip_run(run_dir: str | Path, artifacts: str | Path | None = None, dirnames: list[str] | None = None
              ) -> Stripped:
    """Remove the weights of the training runs under ARTIFACTS/train (default: the run directory's; only
    `dirnames` when given), then compact the store into one file."""
    run_dir = Path(run_dir)
    train = Path(artifacts or run_dir) / "train"
    removed = 0
    if train.is_dir():
        for run in sorted(train.iterdir()):
            if dirnames is not None and run.name not in dirnames and not _partial_of(run.name, dirnames):
                continue
            removed += _remove_weights(run)
    _compact(run_dir / FILENAME)
    return Stripped(removed, _tree_size(run_dir), _count_samples(run_dir / FILENAME))


def has_weights(train_dir: Path) -> bool:
    """Whether a training run's directory still holds its adapter (or model) weights."""
    return train_dir.is_dir() and any(p.is_file() and p.suffix in WEIGHTS for p in train_dir.iterdir())


def _partial_of(name: str, dirnames: list[str]) -> bool:
    return name.startswith(".") and any(name.startswith(f".{d}.") for d in dirnames)


def _remove_weights(run: Path) -> int:
    """Everything in a training run's directory (and its checkpoints') but the records; an interrupted
    attempt's temporary directory entirely."""
    if run.name.startswith("."):  # .NAME.partial: an interrupted attempt, weights only
        size = _tree_size(run)
        shutil.rmtree(run, ignore_errors=True)
        return size
    removed = 0
    for path in sorted(run.rglob("*"), key=lambda p: -len(p.parts)):  # files before their folders
        if path.is_file() and path.name not in KEEP:
            removed += path.stat().st_size
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed


def _compact(store: Path) -> None:
    """Fold the write-ahead log into the database file and drop free pages: one self-contained file."""
    if not store.is_file():
        return
    db = sqlite3.connect(store, isolation_level=None)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
    finally:
        db.close()


def _count_samples(store: Path) -> int:
    if not store.is_file():
        return 0
    db = sqlite3.connect(store)
    try:
        return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    finally:
        db.close()


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
