"""A study's fine-tuning runs: train each (template, seed) once, in a temporary directory renamed into place when
finished, and find the checkpoints to evaluate along the way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ptst.core.hashing import content_hash
from ptst.data.source import DataSource
from ptst.models.options import RenderOptions, RuntimeOptions
from ptst.store.study_store import StudyStore
from ptst.study.config import StudyConfig
from ptst.study.plan import TrainingRun, Variant
from ptst.study.progress import StudyProgress, trainer_callback
from ptst.study.strip import has_weights
from ptst.templates.registry import template_scope
from ptst.train import TrainConfig, run_training


def train_config(cfg: StudyConfig, run: TrainingRun, out: Path) -> TrainConfig:
    """`ptst train`'s config for one of the study's runs: the same models, composed, no field copied by hand."""
    train = cfg.train
    assert train is not None
    shared = set(RenderOptions.model_fields) | set(RuntimeOptions.model_fields)
    mix = run.baseline or train  # a baseline's run mixes in its own refusal data
    return TrainConfig(**train.model_dump(include=set(DataSource.model_fields)), **train.hyper.model_dump(),
                       **cfg.model_dump(include=shared), model=cfg.model, template=run.template,
                       template_file=cfg.template_files, mix=mix.mix, mix_file=mix.mix_file,
                       mix_template=mix.mix_template, out=str(out),
                       seed=run.seed, save_steps=train.eval_every_steps, logging_steps=1)


def ensure_trained(cfg: StudyConfig, store: StudyStore, run_dir: Path, run: TrainingRun, bar: StudyProgress,
                   step_units: float) -> None:
    final = run_dir / "train" / run.dirname
    stripped = store.training_done(run.id) and not has_weights(final)  # its weights removed (`ptst strip`)
    if store.training_done(run.id) and (not stripped or not store.unfinished_cells_of_training(run.id)):
        return  # trained, or its adapter gone but every cell that uses it already has its results
    if not stripped and (final / "ptst_train.json").is_file():  # killed between the rename and the store update
        store.finish_training(run.id, str(final), json.loads((final / "ptst_train.json").read_text()))
        return
    tmp = run_dir / "train" / f".{run.dirname}.partial"
    shutil.rmtree(tmp, ignore_errors=True)  # an interrupted run restarts: same seed, same result
    again = " again: its adapter was removed and unfinished cells need it" if stripped else ""
    bar.note(f"training {run.name} seed {run.seed}{again} -> {final}")
    with template_scope():  # the study's template files, registered for training, are gone after it
        record = run_training(train_config(cfg, run, tmp), log=bar.note,
                              callbacks=[trainer_callback(bar, step_units)], quiet=True)
    if stripped:  # the records of the removed adapter make way for the new one
        shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    store.finish_training(run.id, str(final), record)


def adapter_path(run_dir: Path, variant: Variant) -> str | None:
    if variant.training is None:
        return None
    final = run_dir / "train" / variant.training.dirname
    return str(final / f"checkpoint-{variant.step}") if variant.step is not None else str(final)


def checkpoint_variants(store: StudyStore, run_dir: Path, run: TrainingRun) -> list[Variant]:
    """The run's saved checkpoints as variants (registered in the store), in step order."""
    final = run_dir / "train" / run.dirname
    out = []
    steps = {int(p.name.split("-")[1]) for p in final.glob("checkpoint-*")}
    steps |= set(store.checkpoint_steps(run.id))  # found before, their folders gone since (a stripped run)
    for step in sorted(steps):
        ckpt = final / f"checkpoint-{step}"
        variant = Variant(content_hash({"training": run.id, "step": step}), run.name, run, step)
        store.add_variant(variant.id, run.id, variant.label, run.template, run.seed, step, str(ckpt))
        out.append(variant)
    return out
