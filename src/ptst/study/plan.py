"""The plan of a study: its training runs, model variants and cells, each with a content-hash identity.

An identity hashes only what changes the output (model, training spec, template text, data and its subsample,
decoding); batch size, device, concurrency and retries stay out. Computing the same identities from the config
and finding them in the store is what makes resume exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.hashing import content_hash, file_sha256
from ptst.core.paths import name_as_path
from ptst.data import get_dataset
from ptst.data.item import Item
from ptst.study.baselines import Baseline
from ptst.study.config import PREFLIGHT, DataRef, EvalSet, StudyConfig
from ptst.templates import Template, get_template
from ptst.templates.registry import read_template_file


@dataclass(frozen=True)
class TrainingRun:
    id: str
    template: str
    seed: int
    spec: dict
    baseline: Baseline | None = field(default=None, compare=False)  # a baseline's run (its mix, its row name)

    @property
    def name(self) -> str:
        """The row it makes in tables: the training template, or the baseline's name."""
        return self.baseline.name if self.baseline else self.template

    @property
    def dirname(self) -> str:
        return f"{name_as_path(self.name, 'training run').replace(':', '-')}-seed{self.seed}-{self.id[:8]}"


@dataclass(frozen=True)
class Variant:
    """A model to evaluate: the base model, or a training run's result (`step` None) or checkpoint."""

    id: str
    label: str  # "base" or the training template
    training: TrainingRun | None = None
    step: int | None = None


@dataclass(frozen=True)
class Cell:
    id: str
    variant: Variant
    test_template: str
    eval_set: EvalSet
    decoding: dict
    spec: dict = field(compare=False)


@dataclass
class Plan:
    trainings: list[TrainingRun]
    variants: list[Variant]
    cells: list[Cell]
    items: dict[str, int]  # eval name -> item count
    train_items: int = 0
    notes: list[str] = field(default_factory=list)
    eval_items: dict[str, list[Item]] = field(default_factory=dict)  # eval name -> items, loaded once per run
    templates: dict[str, Template] = field(default_factory=dict)  # every template name of the study

    def cells_of(self, variant: Variant) -> list[Cell]:
        return [c for c in self.cells if c.variant.id == variant.id]


@lru_cache(maxsize=64)
def _file_identity(path: str) -> str:
    return file_sha256(path) if Path(path).is_file() else path


def data_identity(ref: DataRef) -> dict:
    """What decides the items: the set, its file's content (not its path), the split, fields and subsample."""
    ident = ref.model_dump(include={"data", "split", "input_field", "answer_field", "limit", "data_seed",
                                    "data_format"})
    ident["file_sha256"] = _file_identity(ref.data_file) if ref.data_file else None
    if getattr(ref, "plus", None):  # only then: sets made before `plus` existed keep their identity
        ident["plus"] = [data_identity(part) for part in ref.plus]
    return ident


def resolve_templates(cfg: StudyConfig) -> dict[str, Template]:
    """Every template the study names, from its template files or the built-ins, without registering anything
    anywhere: the study's templates are the study's (and are stored with its run)."""
    from_files = {t.name: t for path in cfg.template_files for t in read_template_file(path)}
    out = {}
    mix_template = [cfg.train.mix_template] if cfg.train and cfg.train.mix_template else []
    for name in [*cfg.test_templates, *(cfg.train.templates if cfg.train else []), *mix_template,
                 *baseline_templates(cfg), *(t for tests in cfg.row_tests.values() for t in tests)]:
        if name == PREFLIGHT:
            raise PtstError("the template 'preflight' is resolved when the study runs (dry runs count it as "
                            "chat:llama)")
        out[name] = from_files[name] if name in from_files else get_template(name)  # unknown names fail here
    return out


def baseline_templates(cfg: StudyConfig) -> list[str]:
    """Every template the study's baselines name; a baseline's reference test template must be tested."""
    names = []
    for b in (cfg.train.baselines or []) if cfg.train else []:
        if b.deployed_with not in {b.template, *cfg.tests_of_row(b.name, b.test_templates)}:
            raise PtstError(f"train.baselines {b.name}: reference_test {b.deployed_with} is not one of its test "
                            "templates (the study's test_templates or its own, or its row_tests)")
        names += [b.template, *([b.mix_template] if b.mix_template else []), *b.test_templates]
    return names


def training_run(cfg: StudyConfig, template: Template, seed: int, mix_template: Template | None = None,
                 baseline: Baseline | None = None) -> TrainingRun:
    train = cfg.train
    assert train is not None
    mix = baseline or train  # a baseline brings its own refusal data
    spec = {"model": cfg.model, "data": data_identity(train), "template": template.content(),
            "seed": seed, "hyper": train.hyper.model_dump(), "mix": mix.mix,
            "mix_file_sha256": _file_identity(mix.mix_file) if mix.mix_file else None,
            "markup": cfg.markup, "system_policy": cfg.system_policy,
            "save_steps": train.eval_every_steps}
    if cfg.dtype != "float32":  # only then: float32 runs made before the dtype counted keep their identity
        spec["dtype"] = cfg.dtype
    if mix_template is not None:  # only then: runs made before mix templates existed keep their identity
        spec["mix_template"] = mix_template.content()
    if mix.mix_repeat != 1:  # likewise
        spec["mix_repeat"] = mix.mix_repeat
    if baseline is not None:
        spec["baseline"] = baseline.name
    return TrainingRun(content_hash(spec), template.name, seed, spec, baseline)


def training_runs(cfg: StudyConfig, templates: dict[str, Template]) -> list[TrainingRun]:
    """One run per training template and seed, then one per baseline and seed."""
    train = cfg.train
    if train is None:
        return []
    mix_template = templates[train.mix_template] if train.mix_template else None
    runs = [training_run(cfg, templates[t], s, mix_template) for t in train.templates for s in train.seeds]
    for b in train.baselines or []:
        own = templates[b.mix_template] if b.mix_template else None
        runs += [training_run(cfg, templates[b.template], s, own, b) for s in train.seeds]
    return runs


def variant_for(training: TrainingRun | None, step: int | None = None) -> Variant:
    if training is None:
        return Variant("base", "base")
    return Variant(content_hash({"training": training.id, "step": step}), training.name, training, step)


def cells_for(cfg: StudyConfig, variant: Variant, templates: dict[str, Template]) -> list[Cell]:
    cells = []
    baseline = variant.training.baseline if variant.training else None
    for test in cfg.tests_of_row(variant.label, baseline.test_templates if baseline else None):
        for ev in cfg.evals:
            decoding = cfg.decoding.model_dump()
            if ev.max_new_tokens:
                decoding["max_new_tokens"] = ev.max_new_tokens
            spec = {"model": cfg.model, "variant": variant.id, "test_template": templates[test].content(),
                    "data": data_identity(ev), "decoding": decoding, "markup": cfg.markup,
                    "system_policy": cfg.system_policy, "dtype": cfg.dtype}
            if cfg.engine != "ptst":  # another engine's samples are other samples (kept out for the default, so
                spec["engine"] = cfg.engine  # identities made before engines existed stay valid)
            cells.append(Cell(content_hash(spec), variant, test, ev, decoding, spec))
    return cells


def build_plan(cfg: StudyConfig, *, offline_ok: bool = False) -> Plan:
    """Every training run, variant and cell of the config (checkpoint variants are added when training ends),
    with each eval set's items loaded once. With `offline_ok` (dry runs), a data set that cannot be read here is
    counted from its published size."""
    templates = resolve_templates(cfg)
    notes: list[str] = []
    eval_items = {} if offline_ok else {ev.name: _items(ev) for ev in cfg.evals}
    items = {ev.name: _count_offline(ev, notes) if offline_ok else len(eval_items[ev.name]) for ev in cfg.evals}
    trainings = training_runs(cfg, templates)
    variants = ([variant_for(None)] if cfg.include_base else []) + [variant_for(t) for t in trainings]
    cells = [c for v in variants for c in cells_for(cfg, v, templates)]
    train_items = 0
    if cfg.train:
        train_items = _count_offline(cfg.train, notes) if offline_ok else len(_items(cfg.train))
    return Plan(trainings, variants, cells, items, train_items, notes, eval_items, templates)


def _count_offline(ref: DataRef, notes: list[str], purpose: str | None = None) -> int:
    purpose = purpose or ("eval" if isinstance(ref, EvalSet) else "train")
    try:
        return len(ref.load(purpose=purpose))  # a set with parts: every part readable here, ids checked
    except PtstError:
        if isinstance(ref, EvalSet) and ref.plus:  # count each part on its own
            parts = [DataRef(**ref.model_dump(include=set(DataRef.model_fields))), *ref.plus]
            before = len(notes)
            n = sum(_count_offline(part, notes, purpose) for part in parts)
            if len(notes) == before:  # every part reads here: the set itself is wrong (an item twice)
                raise
            return n
        spec = get_dataset(ref.data)
        sizes = dict(spec.sizes)
        split = ref.split or (spec.eval_split if purpose == "eval" else spec.train_split)
        n = sizes.get(split, next(iter(sizes.values()), 0))
        n = min(n, ref.limit) if ref.limit else n
        where = ref.data_file or f"hub {spec.hub_id}" if (ref.data_file or spec.hub_id) else "its file"
        notes.append(f"{ref.data}: {where} not readable here; counted as {n} rows (its published size)")
        return n


def _items(ref: DataRef):
    return ref.load(purpose="eval" if isinstance(ref, EvalSet) else "train")


def estimated_steps(cfg: StudyConfig, n_items: int, run: TrainingRun | None = None) -> int:
    """Optimiser steps of one training run (`run`'s own mix for a baseline), from the item count (examples dropped
    as over-long not counted)."""
    if cfg.train is None:
        return 0
    h = cfg.train.hyper
    if h.max_steps:
        return h.max_steps
    source = run.baseline if run is not None and run.baseline else cfg.train
    mix = int(source.mix.partition(":")[2] or 0) * source.mix_repeat if source.mix else 0
    return math.ceil(math.ceil((n_items + mix) / (h.batch_size * h.grad_accum)) * h.epochs)
