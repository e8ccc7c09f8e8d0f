"""`ptst merge DIR... --into DIR`: the shards of one study (or any run directories of it) as one run directory.

Everything is checked before anything is written: every input is a finished-or-stopped ptst run (not one still
running), all are runs of the same study (the same fingerprint: `ptst.study.shards.fingerprint_config`) made by
the same versions of the code that decides results, and a cell held by two inputs holds the same results in both
(outputs and scores, item by item). The inputs are read from copies of their stores, so nothing of theirs changes,
not even SQLite's journal; the output is built in a temporary directory beside `--into` and renamed into place.
Cells keep the whole study's order, so the report of a merge is the report of the same study run whole. Cells of
the study that no input holds complete are listed in the store ("study_cells"), which the report names as absent.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import atomic_write_json
from ptst.core.paths import check_output_dir
from ptst.core.runlock import lock_holder
from ptst.report.absent import describe as describe_absent
from ptst.store.run_dir import RunDir
from ptst.store.study_store import FILENAME, StudyStore
from ptst.study.open_run import config_differences
from ptst.study.strip import has_weights

NEUTRAL_VERSIONS = frozenset({"python"})  # recorded versions that do not change results


@dataclass
class Source:
    """One input run directory, read from a private copy of its store."""

    path: Path
    db: sqlite3.Connection
    manifest: dict
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def study(self) -> dict | None:
        return json.loads(self.meta["study"]) if "study" in self.meta else None

    @property
    def shard(self) -> dict | None:
        return json.loads(self.meta["shard"]) if "shard" in self.meta else None

    @property
    def name(self) -> str:
        shard = self.shard
        return f"{self.path} (shard {shard['index']}/{shard['count']})" if shard else str(self.path)

    def cells(self) -> dict[str, dict]:
        keys = ("id", "variant_id", "test_template", "eval_name", "spec", "n_items", "generated")
        rows = self.db.execute(f"SELECT {', '.join(keys)} FROM cells ORDER BY rowid")
        return {r[0]: dict(zip(keys, r, strict=True)) for r in rows}

    def active(self) -> list[str]:
        return json.loads(self.meta.get("active_cells") or "[]")

    def samples(self, cell_id: str) -> list[tuple[str, str]]:
        return self.db.execute("SELECT item_id, row FROM samples WHERE cell_id = ? ORDER BY rowid",
                               (cell_id,)).fetchall()

    def scores(self, cell_id: str) -> dict[tuple[str, str], str]:
        rows = self.db.execute("SELECT item_id, scorer, result FROM scores WHERE cell_id = ?", (cell_id,))
        return {(i, s): r for i, s, r in rows}


@dataclass
class Merged:
    into: Path
    sources: list[Source]
    cells: int
    trainings: int
    absent: list[dict]
    expected: int
    timings: list[tuple[str, float | None, float | None]]  # (input, measured s, estimated s)


def merge_runs(dirs: list[str | Path], into: str | Path, *, require_complete: bool = False) -> Merged:
    into = Path(into)
    paths = _inputs(dirs, into)
    with tempfile.TemporaryDirectory(prefix="ptst-merge-") as scratch:
        sources = [_open(p, Path(scratch) / str(k)) for k, p in enumerate(paths)]
        try:
            _check_same_study(sources)
            _check_same_versions(sources)
            _check_same_arithmetic(sources)
            cells = _merged_cells(sources)
            expected = _study_cells(sources, cells)
            absent = [c for c in expected if not cells.get(c["id"], {}).get("generated")]
            if require_complete and absent:
                raise PtstError(f"--require-complete: {_absent_line(absent, len(expected))}; merge their shards "
                                "too, or run them (ptst run CONFIG --shard K/N)")
            trainings = _write(sources, cells, expected, into)
        finally:
            for s in sources:
                s.db.close()
    return Merged(into, sources, len(cells), trainings, absent, len(expected), [_timing(s) for s in sources])


def _inputs(dirs: list[str | Path], into: Path) -> list[Path]:
    """The input directories, each once, checked: a ptst run directory that no process is writing, and not the
    output or inside it."""
    check_output_dir(into, "--into")
    if into.exists() and any(into.iterdir()):
        raise PtstError(f"--into {into}: exists and is not empty; merge into a new directory (to add shards to an "
                        "earlier merge, give that merge as one of the inputs)")
    out, target = [], into.resolve()
    for d in dirs:
        p = Path(d)
        if not (p / FILENAME).is_file():
            raise PtstError(f"{p}: no {FILENAME} here; is it a `ptst run` directory?")
        holder = lock_holder(p)
        if holder is not None:
            raise PtstError(f"{p}: in use by a running ptst process (PID {holder}); merge it once it has finished or "
                            "was stopped")
        resolved = p.resolve()
        if resolved == target or target in resolved.parents or resolved in target.parents:
            raise PtstError(f"--into {into}: is {p} or inside it; merge into a directory of its own")
        if resolved not in [q.resolve() for q in out]:
            out.append(p)
    return out


def _open(path: Path, scratch: Path) -> Source:
    """A private copy of the input's store (with its write-ahead log, so what a stopped run committed is there)."""
    scratch.mkdir(parents=True)
    for suffix in ("", "-wal"):
        if (path / f"{FILENAME}{suffix}").is_file():
            shutil.copyfile(path / f"{FILENAME}{suffix}", scratch / f"{FILENAME}{suffix}")
    try:
        db = sqlite3.connect(scratch / FILENAME)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as err:
        raise PtstError(f"{path / FILENAME}: not a readable ptst store ({err})") from None
    try:  # every row read back as its record, on the private copy (the input is never opened for writing)
        RunDir(scratch).check_intact()
    except PtstError as err:
        raise PtstError(str(err).replace(str(scratch), str(path))) from None
    return Source(path, db, RunDir(path).load_manifest(), meta)


def _check_same_study(sources: list[Source]) -> None:
    first = sources[0]
    for s in sources:
        if s.study is None:
            raise PtstError(f"{s.path}: records no study fingerprint (made by an older ptst); run the same `ptst run` "
                            "command on it once to add it (nothing done is done again)")
    for s in sources[1:]:
        if s.study["fingerprint"] != first.study["fingerprint"]:
            diffs = config_differences(first.study["config"], s.study["config"])
            shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
            raise PtstError(f"{s.path} and {first.path} are runs of different study configs ({shown}); only shards "
                            "of one config merge")


def _check_same_versions(sources: list[Source]) -> None:
    first = sources[0]
    for s in sources[1:]:
        a, b = first.manifest.get("versions", {}), s.manifest.get("versions", {})
        for name in sorted(set(a) | set(b)):
            if name not in NEUTRAL_VERSIONS and a.get(name) != b.get(name):
                raise PtstError(f"{s.path} and {first.path} were made by different versions of code that decides "
                                f"results ({name} {b.get(name)} vs {a.get(name)}); rerun one of them with the "
                                "other's versions")


def _check_same_arithmetic(sources: list[Source]) -> None:
    """The dtype and engine each input's samples were made with (a config's `dtype: auto` is bfloat16 on a GPU and
    float32 on a CPU, under one cell identity)."""
    made = {}
    for s in sources:
        rows = s.db.execute("SELECT DISTINCT json_extract(row, '$.dtype'), json_extract(row, '$.engine') FROM samples")
        made[s.path] = sorted(f"{dtype} on engine {engine}" for dtype, engine in rows)
    first = sources[0]
    for s in sources[1:]:
        if made[s.path] and made[first.path] and made[s.path] != made[first.path]:
            raise PtstError(f"{s.path} and {first.path} generated in different arithmetic ({', '.join(made[s.path])} "
                            f"vs {', '.join(made[first.path])}); set the study's dtype and run them alike")


def _merged_cells(sources: list[Source]) -> dict[str, dict]:
    """Every cell any input holds, with the inputs holding it; refuses a cell whose results differ between two."""
    cells: dict[str, dict] = {}
    for s in sources:
        for cid, cell in s.cells().items():
            entry = cells.setdefault(cid, {**cell, "from": []})
            entry["generated"] = max(entry["generated"], cell["generated"])
            entry["from"].append(s)
    for cid, entry in cells.items():
        if len(entry["from"]) > 1:
            _check_agree(cid, entry["from"])
    return cells


def _check_agree(cid: str, holders: list[Source]) -> None:
    first = holders[0]
    outputs = {i: _result(row) for i, row in first.samples(cid)}
    scores = first.scores(cid)
    for s in holders[1:]:
        for item, row in s.samples(cid):
            if item in outputs and outputs[item] != _result(row):
                raise PtstError(f"cell {_cell_name(first, cid)}: {s.path} and {first.path} hold different results "
                                f"for item {item} (output {_result(row)[0]!r} vs {outputs[item][0]!r}); they were not "
                                "made the same way: merge one of them")
        for key, result in s.scores(cid).items():
            if key in scores and json.loads(scores[key]) != json.loads(result):
                raise PtstError(f"cell {_cell_name(first, cid)}: {s.path} and {first.path} hold different {key[1]} "
                                f"scores for item {key[0]}; they were not made the same way: merge one of them")


def _result(row: str) -> tuple:
    """What a sample's result is (its provenance, e.g. where its adapter lay, may differ between machines)."""
    r = json.loads(row)
    return r.get("output"), r.get("finish_reason"), r.get("output_tokens")


def _cell_name(source: Source, cid: str) -> str:
    row = source.db.execute("SELECT v.label, v.seed, v.step, c.test_template, c.eval_name FROM cells c JOIN "
                            "variants v ON v.id = c.variant_id WHERE c.id = ?", (cid,)).fetchone()
    label, seed, step, test, ev = row
    model = label + (f" seed {seed}" if seed is not None else "") + (f" step {step}" if step is not None else "")
    return f"{model} -> {test} on {ev} ({cid})"


def _study_cells(sources: list[Source], cells: dict[str, dict]) -> list[dict]:
    """The whole study's cells, in the whole study's order: the shards' lists (which name every shard's cells),
    then the cells of inputs that are not shards; then checkpoints' cells as they were found."""
    out: dict[str, dict] = {}
    for s in sources:
        shard = s.shard
        for c in (shard or {}).get("cells", []):
            out.setdefault(c["id"], {**c, "shard": f"{shard['parts'][c['part']]['shard']}/{shard['count']}"})
        for c in json.loads(s.meta.get("study_cells") or "[]"):  # an earlier merge's list
            out.setdefault(c["id"], c)
    for s in sources:
        for cid in s.active():
            if cid not in out and cid in cells:
                out[cid] = _describe(s, cid)
    return list(out.values())


def _describe(source: Source, cid: str) -> dict:
    label, seed, step, test, ev = source.db.execute(
        "SELECT v.label, v.seed, v.step, c.test_template, c.eval_name FROM cells c JOIN variants v ON "
        "v.id = c.variant_id WHERE c.id = ?", (cid,)).fetchone()
    shard = source.shard
    return {"id": cid, "row": label if step is None else f"{label}@{step}", "seed": seed, "test": test, "eval": ev,
            "shard": f"{shard['index']}/{shard['count']}" if shard else None}


def _absent_line(absent: list[dict], total: int) -> str:
    shown = "; ".join(describe_absent(c) for c in absent[:4]) + (f"; and {len(absent) - 4} more"
                                                                 if len(absent) > 4 else "")
    return f"{len(absent)} of {total} cells of the study are absent ({shown})"




def _write(sources: list[Source], cells: dict[str, dict], expected: list[dict], into: Path) -> int:
    """Build the merged run directory beside `into`, then rename it into place; returns the training runs."""
    into.parent.mkdir(parents=True, exist_ok=True)
    tmp = into.parent / f".{into.name}.merging-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        trainings = _write_store(sources, cells, expected, tmp)
        _copy_training_dirs(sources, tmp)
        preflight = next((s.path / "preflight" for s in sources if (s.path / "preflight").is_dir()), None)
        if preflight:
            shutil.copytree(preflight, tmp / "preflight")
        atomic_write_json(tmp / "manifest.json", _manifest(sources, len(cells), tmp))
        if into.exists():
            into.rmdir()  # empty (checked): the finished merge takes its place
        tmp.rename(into)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return trainings


def _write_store(sources: list[Source], cells: dict[str, dict], expected: list[dict], out: Path) -> int:
    store = StudyStore(out)
    db = store.db
    first = sources[0]
    order = {c["id"]: i for i, c in enumerate(expected)}
    ranked = sorted(cells, key=lambda cid: (order.get(cid, len(order)), list(cells).index(cid)))
    try:
        db.execute("BEGIN")
        for key in ("config", "config_hash", "study"):
            if key in first.meta:
                store.set_meta(key, first.meta[key])
        templates: dict = {}
        failed: dict = {}
        for s in sources:
            templates.update(json.loads(s.meta.get("templates") or "{}"))
            failed.update(json.loads(s.meta.get("failed_scores") or "{}"))
        store.set_meta("templates", json.dumps(templates, sort_keys=True))
        store.set_meta("failed_scores", json.dumps(failed, sort_keys=True))
        store.set_active({cid for s in sources for cid in s.active()})
        store.set_meta("study_cells", json.dumps(expected))
        store.set_meta("merged_from", json.dumps([s.name for s in sources]))
        trainings = _copy_trainings(sources, db, out)
        variants = {}
        for s in sources:
            for row in s.db.execute("SELECT id, training_id, label, train_template, seed, step, adapter FROM "
                                    "variants ORDER BY rowid"):
                if row[0] not in variants or (variants[row[0]][6] is None and row[6] is not None):
                    variants[row[0]] = row
        for vid, training_id, label, template, seed, step, adapter in variants.values():
            moved = str(_final_dir(out) / "train" / Path(adapter).parent.name / Path(adapter).name) if adapter \
                else None
            db.execute("INSERT INTO variants VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (vid, training_id, label, template, seed, step, moved))
        for cid in ranked:
            _copy_cell(db, cells[cid])
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        store.close()
    return trainings


def _final_dir(out: Path) -> Path:
    """The merged directory's final path (`out` is its temporary name until the merge is complete)."""
    return out.parent / out.name.split(".merging-")[0].lstrip(".")


def _copy_trainings(sources: list[Source], db: sqlite3.Connection, out: Path) -> int:
    rows: dict[str, tuple] = {}
    for s in sources:
        for row in s.db.execute("SELECT id, template, seed, spec, path, record, done FROM trainings ORDER BY rowid"):
            if row[0] not in rows or (row[6] and not rows[row[0]][6]):
                rows[row[0]] = row
    for tid, template, seed, spec, path, record, done in rows.values():
        moved = str(_final_dir(out) / "train" / Path(path).name) if path else None
        db.execute("INSERT INTO trainings VALUES (?, ?, ?, ?, ?, ?, ?)", (tid, template, seed, spec, moved, record,
                                                                          done))
    return len(rows)


def _copy_cell(db: sqlite3.Connection, cell: dict) -> None:
    """The cell, its samples (every input's, each item once, in the order its first holder stored them) and
    its scores."""
    db.execute("INSERT INTO cells (id, variant_id, test_template, eval_name, spec, n_items, generated) VALUES "
               "(?, ?, ?, ?, ?, ?, ?)", tuple(cell[k] for k in ("id", "variant_id", "test_template", "eval_name",
                                                                "spec", "n_items", "generated")))
    holders = sorted(cell["from"], key=lambda s: -len(s.samples(cell["id"])))  # the fullest first
    seen: set[str] = set()
    for s in holders:
        rows = [(cell["id"], item, row) for item, row in s.samples(cell["id"]) if item not in seen]
        db.executemany("INSERT INTO samples VALUES (?, ?, ?)", rows)
        seen |= {item for _, item, _ in rows}
        db.executemany("INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?)",
                       [(cell["id"], item, scorer, result) for (item, scorer), result in s.scores(cell["id"]).items()])


def _copy_training_dirs(sources: list[Source], out: Path) -> None:
    """Each training run's directory (records, and weights where an input kept them) from the input that holds
    it most completely."""
    found: dict[str, Path] = {}
    for s in sources:
        for (path,) in s.db.execute("SELECT path FROM trainings WHERE done = 1 AND path IS NOT NULL"):
            name = Path(path).name
            for candidate in (s.path / "train" / name, Path(path)):
                if candidate.is_dir() and (name not in found or (has_weights(candidate)
                                                                 and not has_weights(found[name]))):
                    found[name] = candidate
                    break
    for name, src in found.items():
        shutil.copytree(src, out / "train" / name)


def _manifest(sources: list[Source], cells: int, out: Path) -> dict:
    first = dict(sources[0].manifest)
    first.pop("shard", None)
    templates: dict = {}
    trainings: dict = {}
    for s in sources:
        templates.update(s.manifest.get("templates", {}))
        for t in s.manifest.get("plan", {}).get("trainings", []):
            trainings[t["id"]] = t
    first["templates"] = templates
    first["plan"] = {**first.get("plan", {}), "trainings": list(trainings.values()), "cells": cells}
    first["merged"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    first["merged_from"] = [{"dir": str(s.path.resolve()), "shard": s.manifest.get("shard"),
                             "machine": s.manifest.get("machine"), "started": s.manifest.get("started"),
                             "sessions": json.loads(s.meta.get("sessions") or "[]")} for s in sources]
    return first


def _timing(source: Source) -> tuple[str, float | None, float | None]:
    """(input, its run's measured seconds, its estimate): a run that finished in one go (a killed or failed run's
    time is not recorded, so a resumed one is not compared with its estimate)."""
    sessions = json.loads(source.meta.get("sessions") or "[]")
    if len(sessions) != 1 or sessions[0].get("resumed"):
        return source.name, None, None
    return source.name, sessions[0]["seconds"], sessions[0].get("estimate_s")
