"""A study's fine-tuning runs: train each (template, seed) once, in a temporary directory renamed into place when
finished (the local and the Ray executor alike), and find the checkpoints to evaluate along the way."""

from __future__ import annotations

import shutil
from pathlib import Path

from ptst.data.source import DataSource
from ptst.models.options import RenderOptions, RuntimeOptions
from ptst.store.run_dir import RunDir
from ptst.store.study_store import StudyStore
from ptst.store.training_dir import TrainingDir
from ptst.study.config import StudyConfig
from ptst.study.plan import TrainingRun, Variant, variant_for
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
                       mix_template=mix.mix_template, mix_repeat=mix.mix_repeat, out=str(out),
                       seed=run.seed, save_steps=train.eval_every_steps, logging_steps=1)


def train_into(cfg: StudyConfig, run: TrainingRun, out: RunDir, *, log=lambda message: None,
               callbacks=()) -> TrainingDir:
    """Train RUN into OUT's train/<run>/ unless it is finished there: into a unique temporary directory renamed
    into place when finished, so an interrupted (or a concurrent, retried) attempt never leaves half an adapter
    under the final name. Every executor trains through here."""
    final = out.training(run.dirname)
    if final.is_finished():  # e.g. killed between the rename and the store update
        return final
    tmp = final.partial()
    log(f"training {run.name} seed {run.seed} -> {final.path}")
    with template_scope():  # the study's template files, registered for training, are gone after it
        run_training(train_config(cfg, run, tmp.path), log=log, callbacks=list(callbacks), quiet=True)
    return tmp.finish_into(final)


def ensure_trained(cfg: StudyConfig, store: StudyStore, out: RunDir, run: TrainingRun, bar: StudyProgress,
                   step_units: float) -> None:
    """Train RUN here unless the store has it, and record it in the store. A run whose adapter `ptst strip`
    removed is trained again only when a cell that uses it still lacks results."""
    final = out.training(run.dirname)
    if not needs_training(store, out, run):
        return  # trained, or its adapter gone but every cell that uses it already has its results
    stripped = store.training_done(run.id)
    final.remove_partials()  # an interrupted attempt restarts: same seed, same result
    if stripped:  # the records of the removed adapter make way for the new one
        shutil.rmtree(final.path, ignore_errors=True)
        bar.note(f"training {run.name} seed {run.seed} again: its adapter was removed and unfinished cells need it")
    final = train_into(cfg, run, out, log=bar.note, callbacks=[trainer_callback(bar, step_units)])
    store.finish_training(run.id, str(final.path), final.load_record())


def needs_training(store: StudyStore, out: RunDir, run: TrainingRun) -> bool:
    """Whether RUN trains (again) here: never trained, or its adapter removed (`ptst strip`) while a cell that
    uses it still lacks results."""
    if not store.training_done(run.id):
        return True
    return not has_weights(out.training(run.dirname).path) and bool(store.unfinished_cells_of_training(run.id))


def adapter_path(out: RunDir, variant: Variant) -> str | None:
    if variant.training is None:
        return None
    return str(out.training(variant.training.dirname).adapter(variant.step))


def checkpoint_variants(store: StudyStore, out: RunDir, run: TrainingRun) -> list[Variant]:
    """The run's saved checkpoints as variants (registered in the store), in step order."""
    steps = set(out.training(run.dirname).checkpoint_steps())
    steps |= set(store.checkpoint_steps(run.id))  # found before, their folders gone since (a stripped run)
    variants = [variant_for(run, step) for step in sorted(steps)]
    for v in variants:
        store.add_variant(v.id, run.id, v.label, run.template, run.seed, v.step, adapter_path(out, v))
    return variants
