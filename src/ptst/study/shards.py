"""Shards: a study split into N deterministic parts, each run anywhere into its own run directory, merged later
(`ptst.study.merge`).

The unit of the split is a *part*: one training run (a template, seed and baseline) with every cell of every model
it makes (checkpoints included), so an adapter is trained in exactly one shard; the base model's cells are a part
of their own. Parts go to shards by a longest-first greedy fill over reference costs (fixed constants, never
this machine's speed), so every machine computes the same partition from the same config. Each shard's store
keeps the study's fingerprint, K/N and the whole study's cell list, which is how a merge knows what is absent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.hashing import content_hash, file_sha256
from ptst.core.redact import redact_config
from ptst.store.study_store import StudyStore
from ptst.study.config import StudyConfig
from ptst.study.plan import Cell, Plan, TrainingRun
from ptst.study.resources import HOW_IT_RUNS

BASE = "base"  # the key of the base model's part


@dataclass(frozen=True)
class Part:
    key: str  # "base" or the training run's id
    label: str  # "base" or "chat:vanilla seed 0"
    training: TrainingRun | None
    cells: tuple[Cell, ...] = field(compare=False)


@dataclass(frozen=True)
class ShardSpec:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str, flag: str = "--shard") -> ShardSpec:
        k, sep, n = text.partition("/")
        if not sep or not k.strip().isdigit() or not n.strip().isdigit():
            raise PtstError(f"{flag} {text}: expected K/N, e.g. 2/5 (the second of five shards)")
        spec = cls(int(k), int(n))
        if not 1 <= spec.index <= spec.count:
            raise PtstError(f"{flag} {text}: K must be between 1 and N")
        return spec

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def check_count(cfg: StudyConfig, count: int, flag: str = "--shard") -> None:
    parts = part_count(cfg)
    if count > parts:
        runs = parts - (1 if cfg.include_base else 0)
        what = f"{runs} training run(s)" + (" and the base model" if cfg.include_base else "")
        raise PtstError(f"{flag}: {count} shards asked, but the study has only {parts} parts ({what}); use at most "
                        f"{parts}")


def study_parts(plan: Plan) -> list[Part]:
    """The base model's part (when the study evaluates it), then one part per training run, in plan order."""
    parts = []
    base = [c for c in plan.cells if c.variant.training is None]
    if base:
        parts.append(Part(BASE, BASE, None, tuple(base)))
    for run in plan.trainings:
        cells = tuple(c for c in plan.cells if c.variant.training is not None and c.variant.training.id == run.id)
        parts.append(Part(run.id, f"{run.name} seed {run.seed}", run, cells))
    return parts


def partition(cfg: StudyConfig, plan: Plan, count: int, flag: str = "--shard") -> list[list[Part]]:
    """`count` shards of the study's parts, each in plan order. Longest part first, each to the shard with the
    least reference cost so far (ties: the lower shard number)."""
    from ptst.study.estimate import part_seconds, reference_rates

    check_count(cfg, count, flag)
    parts = study_parts(plan)
    rates = reference_rates(cfg)
    costs = {p.key: sum(part_seconds(cfg, plan, p, rates)) for p in parts}
    order = sorted(range(len(parts)), key=lambda i: (-costs[parts[i].key], i))
    loads, members = [0.0] * count, [[] for _ in range(count)]
    for i in order:
        shard = min(range(count), key=lambda s: (loads[s], s))
        loads[shard] += costs[parts[i].key]
        members[shard].append(i)
    return [[parts[i] for i in sorted(m)] for m in members]


def select(plan: Plan, parts: list[Part]) -> Plan:
    """The plan restricted to `parts`: their training runs, models and cells (items and templates unchanged)."""
    keys = {p.key for p in parts}
    trainings = [t for t in plan.trainings if t.id in keys]
    variants = [v for v in plan.variants if (v.training.id if v.training else BASE) in keys]
    ids = {v.id for v in variants}
    return Plan(trainings, variants, [c for c in plan.cells if c.variant.id in ids], plan.items, plan.train_items,
                plan.notes, plan.eval_items, plan.templates)


def fingerprint_config(cfg: StudyConfig) -> dict:
    """The config as it decides results, independent of the machine: where the work runs left out, credentials
    redacted, and every file path replaced by the sha256 of the file's content (a checkout in another folder, on
    another machine, is the same study)."""
    data = redact_config(cfg.model_dump(exclude=HOW_IT_RUNS))

    def content(path):
        return {"sha256": file_sha256(path)} if path and Path(path).is_file() else path

    data["template_files"] = [content(p) for p in data["template_files"]]
    for ev in data["evals"]:
        ev["data_file"] = content(ev["data_file"])
        for part in ev["plus"]:
            part["data_file"] = content(part["data_file"])
        if not ev["plus"]:  # studies from before `plus` existed keep their fingerprint
            del ev["plus"]
    if data["train"]:
        for key in ("data_file", "mix_file"):
            data["train"][key] = content(data["train"][key])
        for b in data["train"]["baselines"] or []:
            b["mix_file"] = content(b["mix_file"])
        for b in [data["train"], *(data["train"]["baselines"] or [])]:
            if b["mix_repeat"] == 1:  # studies from before mix_repeat existed keep their fingerprint
                del b["mix_repeat"]
    if data["judge"] and data["judge"]["rubric"]:
        data["judge"]["rubric"] = content(data["judge"]["rubric"])
    return data


def describe_cell(cell: Cell, part: Part) -> dict:
    v = cell.variant
    return {"id": cell.id, "part": part.key, "row": v.label, "seed": v.training.seed if v.training else None,
            "test": cell.test_template, "eval": cell.eval_set.name}


def part_count(cfg: StudyConfig) -> int:
    """The study's parts, from its config alone (before any data is read): the base model and each run."""
    train = cfg.train
    runs = (len(dict.fromkeys(train.templates)) + len(train.baselines or [])) * len(train.seeds) if train else 0
    return runs + (1 if cfg.include_base else 0)


def check_shard_dir(store: StudyStore, shard: ShardSpec | None, run_dir: Path) -> None:
    """A shard's directory holds that shard or nothing yet; a whole run's holds no shard."""
    held = json.loads(store.get_meta("shard") or "null")
    if shard is not None and held is None and store.active_cell_ids():
        raise PtstError(f"{run_dir} holds a run of the whole study; a shard needs a run directory of its own "
                        f"(--out), not {run_dir}")
    if held and (shard is None or (held["index"], held["count"]) != (shard.index, shard.count)):
        asked = f"shard {shard}" if shard else "the whole study"
        raise PtstError(f"{run_dir} holds shard {held['index']}/{held['count']} of this study; {asked} needs "
                        "another --out (to combine shards: ptst merge)")


def record_study(store: StudyStore, cfg: StudyConfig, plan: Plan, shard: ShardSpec | None) -> Plan:
    """Note the study's fingerprint in the store and, for a shard, K/N and the whole study's cells (in the
    whole run's order); returns the shard's plan."""
    config = fingerprint_config(cfg)
    study = {"fingerprint": content_hash(config), "config": config}
    store.set_meta("study", json.dumps(study, sort_keys=True))
    if shard is None:
        return plan
    shards = partition(cfg, plan, shard.count)
    mine = shards[shard.index - 1]
    order = {c.id: i for i, c in enumerate(plan.cells)}  # the whole run's order, kept by a merge
    cells = [describe_cell(c, part) for parts in shards for part in parts for c in part.cells]
    numbers = {part.key: k for k, parts in enumerate(shards, 1) for part in parts}
    store.set_meta("shard", json.dumps({"index": shard.index, "count": shard.count,
                                        "fingerprint": study["fingerprint"],
                                        "parts": {p.key: {"label": p.label, "shard": numbers[p.key]}
                                                  for parts in shards for p in parts},
                                        "cells": sorted(cells, key=lambda c: order[c["id"]])},
                                       sort_keys=True))
    return select(plan, mine)


def manifest_entry(store: StudyStore) -> dict:
    """What a run's manifest says of its shard (nothing for a whole run)."""
    held = json.loads(store.get_meta("shard") or "null")
    if not held:
        return {}
    mine = [p["label"] for p in held["parts"].values() if p["shard"] == held["index"]]
    return {"shard": {"index": held["index"], "count": held["count"], "study_fingerprint": held["fingerprint"],
                      "parts": mine}}


class Session:
    """One `ptst run` of a directory, timed: when it finishes, its start and length are kept in the store (with the
    estimate it started with, and whether it resumed work an earlier run had begun) so a merge can set every
    shard's measured time beside its estimate."""

    def __init__(self, run_dir: Path, estimate_s: float | None = None):
        self.run_dir, self.estimate_s = run_dir, estimate_s

    def __enter__(self) -> Session:
        self.started = time.time()
        self.resumed = _holds_work(self.run_dir)  # a killed or failed run records no session: its time is unknown
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.seconds = time.time() - self.started
        if kind is not None or not (self.run_dir / "store.sqlite").is_file():
            return  # a refused or failed run leaves the store as it was; a killed one never gets here
        store = StudyStore(self.run_dir)
        try:
            sessions = json.loads(store.get_meta("sessions") or "[]")
            sessions.append({"started": round(self.started, 1), "seconds": round(self.seconds, 1),
                             "finished": True, "estimate_s": self.estimate_s, "resumed": self.resumed})
            store.set_meta("sessions", json.dumps(sessions))
        finally:
            store.close()

    def summary(self, what: str) -> str:
        took = f"{what} took {self.seconds:.0f} s"
        if self.resumed:
            return f"{took} (resumed: earlier runs did part of the work, so it is not compared with the estimate)"
        if not self.estimate_s:
            return took
        return f"{took} ({against_estimate(self.seconds, self.estimate_s)})"


def against_estimate(measured_s: float, estimate_s: float) -> str:
    """'estimated 900 s: took 0.95x that'; the ratio reads one way whichever side is larger."""
    return f"estimated {estimate_s:.0f} s: took {measured_s / estimate_s:.2f}x that"


def _holds_work(run_dir: Path) -> bool:
    """Whether the run directory's store already holds samples or a finished training run."""
    if not (run_dir / "store.sqlite").is_file():
        return False
    store = StudyStore(run_dir)
    try:
        return store.holds_work()
    finally:
        store.close()
