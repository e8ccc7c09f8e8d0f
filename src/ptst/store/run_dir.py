"""A study's run directory: `store.sqlite` (everything measured: `StudyStore`), `manifest.json` (how the run was
made), `train/<run>/` (each training run's `TrainingDir`), the pre-flight's `preflight/` and the report files.
`RunDir` is the one place that knows these names. With `ptst run --artifacts DIR`, DIR holds the `train/` part
(where every node can read the adapters): `RunDir(DIR).training(...)`."""

from __future__ import annotations

import os
from pathlib import Path

from ptst.core.io import atomic_write_json
from ptst.store.records import Manifest, read_run_file
from ptst.store.study_store import FILENAME as STORE
from ptst.store.study_store import StudyStore
from ptst.store.training_dir import TrainingDir

MANIFEST = "manifest.json"
TRAIN = "train"
OWNED = (STORE, MANIFEST)  # files that mark a directory as a ptst run directory


class RunDir:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def store_path(self) -> Path:
        return self.path / STORE

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def has_store(self) -> bool:
        return self.store_path.is_file()

    def open_store(self) -> StudyStore:
        return StudyStore(self.path)

    def save_manifest(self, manifest: dict) -> None:
        atomic_write_json(self.manifest_path, manifest)

    def load_manifest(self) -> dict:
        """The manifest (a valid `records.Manifest`), or {} for a run directory without one."""
        if not self.manifest_path.is_file():
            return {}
        return read_run_file(self.manifest_path, Manifest, "manifest")

    def check_intact(self) -> None:
        """Every record the directory holds read back (the manifest, every row of the store): a damaged one is
        refused, named, before a command writes anything."""
        self.load_manifest()
        store = self.open_store()
        try:
            store.verify()
        finally:
            store.close()

    def training(self, dirname: str) -> TrainingDir:
        """Where the training run named DIRNAME (`TrainingRun.dirname`) writes its output."""
        return TrainingDir(self.path / TRAIN / dirname)

    def remove_partial_trainings(self) -> None:
        """Temporary directories of training attempts that never finished (their process was killed)."""
        TrainingDir(self.path / TRAIN / "*").remove_partials()
