"""Open a study's run directory for a config: plan it, refuse a changed config (naming the differences) unless
extending, write the manifest, and register the plan in the store once (trainings, variants, cells, the active
cells and every template's full definition, so the run directory alone can rebuild its report)."""

from __future__ import annotations

import json
import time
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from ptst.core.errors import PtstError
from ptst.core.hashing import canonical_json, content_hash
from ptst.core.redact import redact_config
from ptst.store.study_store import StudyStore
from ptst.study.config import StudyConfig
from ptst.study.manifest import write_manifest
from ptst.study.plan import Cell, Plan, build_plan
from ptst.study.resources import HOW_IT_RUNS
from ptst.study.shards import ShardSpec, check_shard_dir, manifest_entry, record_study


def open_run(cfg: StudyConfig, run_dir: Path, *, allow_extend: bool = False, shard: ShardSpec | None = None
             ) -> tuple[Plan, StudyStore]:
    """`shard`: run only that part of the plan (`ptst.study.shards`)."""
    plan = build_plan(cfg)
    store = StudyStore(run_dir)
    try:
        store.verify()  # a damaged store is refused as it is, before anything is written
    except PtstError:
        store.close()
        raise
    check_shard_dir(store, shard, run_dir)
    check_config(store, cfg, allow_extend, run_dir)
    plan = record_study(store, cfg, plan, shard)
    write_manifest(run_dir, cfg, plan, started=time.time(), extra=manifest_entry(store))
    register_plan(store, plan)
    return plan, store


def check_config(store: StudyStore, cfg: StudyConfig, allow_extend: bool, run_dir: Path) -> None:
    """A run directory belongs to one config; a changed one is refused (naming the differences) unless extending."""
    new = redact_config(cfg.model_dump(exclude=HOW_IT_RUNS))  # a run may move between executors and resume
    old = redact_config({k: v for k, v in store.config().items() if k not in HOW_IT_RUNS})  # no stored secrets
    if old:
        fill_added_defaults(old, new, StudyConfig)
        diffs = config_differences(old, new)
        if diffs and not allow_extend:
            shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
            raise PtstError(f"{run_dir} was made with a different config ({shown}); use another --out, or "
                            "--allow-extend to add only the new cells")
    store.set_meta("config", canonical_json(new))
    store.set_meta("config_hash", content_hash(new))


def fill_added_defaults(old: dict, new: dict, model: type[BaseModel]) -> None:
    """A setting added to ptst later, at its default, changes nothing in a run made before it: copy such settings
    from `new` into `old` (in nested settings too, e.g. a judge option added later)."""
    for key, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if key not in old:
            if key in new and new[key] == (default.model_dump() if isinstance(default, BaseModel) else default):
                old[key] = new[key]
            continue
        sub, kind = _model_in(field.annotation)
        if sub is None:
            continue
        old_v, new_v = old[key], new.get(key)
        if kind == "one" and isinstance(old_v, dict) and isinstance(new_v, dict):
            pairs = [(old_v, new_v)]
        elif kind == "list" and isinstance(old_v, list) and isinstance(new_v, list) and len(old_v) == len(new_v):
            pairs = list(zip(old_v, new_v, strict=True))  # e.g. each baseline, each eval set
        elif kind == "dict" and isinstance(old_v, dict) and isinstance(new_v, dict):
            pairs = [(old_v[k], new_v[k]) for k in old_v if k in new_v]  # e.g. each scorer's judge
        else:
            pairs = []
        for old_one, new_one in pairs:
            if isinstance(old_one, dict) and isinstance(new_one, dict):
                fill_added_defaults(old_one, new_one, sub)


def _model_in(annotation) -> tuple[type[BaseModel] | None, str]:
    """The pydantic model a field holds and how: `X` or `X | None` ("one"), `list[X]` ("list"), `dict[str, X]`
    ("dict"), each optionally `| None`; (None, "") if none."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for candidate in (annotation, *(typing.get_args(annotation) if union else ())):
        kind, origin, args = "one", typing.get_origin(candidate), typing.get_args(candidate)
        if origin is list:
            kind, candidate = "list", (args or (None,))[0]
        elif origin is dict:
            kind, candidate = "dict", (args or (None, None))[-1]
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate, kind
    return None, ""


def config_differences(old, new, prefix: str = "") -> list[str]:
    """Dotted paths whose values differ, as 'path: old -> new'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += config_differences(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in config_differences(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [f"{prefix}: {json.dumps(old)} -> {json.dumps(new)}"]


def register_plan(store: StudyStore, plan: Plan) -> None:
    for t in plan.trainings:
        store.add_training(t.id, t.template, t.seed, t.spec)
    for v in plan.variants:
        t = v.training
        store.add_variant(v.id, t.id if t else None, v.label, t.template if t else None, t.seed if t else None,
                          v.step, None)
    register_cells(store, plan.cells, plan)
    store.set_active(c.id for c in plan.cells)  # what this config shows (cells of a dropped setting stay stored)
    store.add_templates({name: t.model_dump(mode="json") for name, t in plan.templates.items()})


def register_cells(store: StudyStore, cells: list[Cell], plan: Plan) -> None:
    """Cells and their item counts, made active (what the report shows), in one go."""
    for c in cells:
        store.add_cell(c.id, c.variant.id, c.test_template, c.eval_set.name, c.spec, plan.items[c.eval_set.name])
    store.activate(c.id for c in cells)
