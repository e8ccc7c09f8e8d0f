"""The study store: one SQLite database per run directory (trainings, variants, cells, samples, scores).

Every finished sample is committed as it finishes, so a killed run loses at most the batch in flight. Schema
changes are append-only migrations numbered by `PRAGMA user_version`. Every JSON value read back is checked
against its record (`ptst.store.records`); a damaged one is a PtstError naming the table and the row, and
`verify` checks them all before a resumed run writes anything.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ptst.core.errors import PtstError
from ptst.core.jsontext import parse_json
from ptst.core.validation import describe_validation_error
from ptst.store.records import META_SHAPES, StoredCell, StoredSample, result_shape

_SAMPLE = TypeAdapter(StoredSample)
_OBJECT = TypeAdapter(dict[str, Any])

FILENAME = "store.sqlite"
MIGRATIONS = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE trainings (id TEXT PRIMARY KEY, template TEXT NOT NULL, seed INTEGER NOT NULL, spec TEXT NOT NULL,
                            path TEXT, record TEXT, done INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE variants (id TEXT PRIMARY KEY, training_id TEXT, label TEXT NOT NULL, train_template TEXT,
                           seed INTEGER, step INTEGER, adapter TEXT);
    CREATE TABLE cells (id TEXT PRIMARY KEY, variant_id TEXT NOT NULL, test_template TEXT NOT NULL,
                        eval_name TEXT NOT NULL, spec TEXT NOT NULL, n_items INTEGER NOT NULL,
                        generated INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE samples (cell_id TEXT NOT NULL, item_id TEXT NOT NULL, row TEXT NOT NULL,
                          PRIMARY KEY (cell_id, item_id));
    CREATE TABLE scores (cell_id TEXT NOT NULL, item_id TEXT NOT NULL, scorer TEXT NOT NULL, result TEXT,
                         PRIMARY KEY (cell_id, item_id, scorer));
    """,
)


_DAMAGED = ("the run directory is damaged (nothing was changed): restore it from a backup, or use another run "
            "directory")


class StudyStore:
    def __init__(self, run_dir: str | Path, *, read_only: bool = False):
        """READ_ONLY: open an existing store without writing anything to it (a dry run's look at what is done)."""
        self.path = Path(run_dir) / FILENAME
        if read_only:  # a store no process has open is read as immutable: SQLite then creates no -wal/-shm files
            live = self.path.with_name(FILENAME + "-wal").exists()
            self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?{'mode=ro' if live else 'immutable=1'}",
                                      uri=True, timeout=30, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:  # checked before anything is written to it
            damage = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
            foreign = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] and not \
                self.db.execute("PRAGMA user_version").fetchone()[0]
            damage = "another program's database" if damage == "ok" and foreign else damage
        except sqlite3.DatabaseError as err:
            damage = str(err)
        if damage != "ok":
            self.db.close()
            raise PtstError(f"{self.path}: the study store is damaged or not a ptst store ({damage}); nothing was "
                            "changed: restore it from a backup, or use another run directory")
        if read_only:
            return
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _json(self, table: str, row: str, text: Any, shape: TypeAdapter) -> Any:
        """A stored JSON value checked against its record; a damaged one names the table and the row."""
        where = f"{self.path}: table {table}, {row}"
        try:
            if not isinstance(text, str):
                raise PtstError(f"{where}: expected JSON text, got {type(text).__name__}")
            value = parse_json(text, where, allow_nan=True)  # Python's json wrote it, NaN included
            shape.validate_python(value)
        except ValidationError as err:
            raise PtstError(f"{describe_validation_error(err, where)}; {_DAMAGED}") from None
        except PtstError as err:
            raise PtstError(f"{err}; {_DAMAGED}") from None
        return value

    def _meta_json(self, key: str, default: str) -> Any:
        return self._json("meta", f"key {key!r}", self.get_meta(key) or default, META_SHAPES[key])

    def verify(self) -> None:
        """Check every stored JSON value against its record (before a resumed run writes anything, so a damaged
        store is refused while it is still as it was)."""
        for key in META_SHAPES:
            if self.get_meta(key) is not None:
                self._meta_json(key, "")
        for tid, spec, record in self.db.execute("SELECT id, spec, record FROM trainings"):
            self._json("trainings", f"training {tid}", spec, _OBJECT)
            if record is not None:
                self._json("trainings", f"training {tid}", record, _OBJECT)
        self.cells()
        for cid, item, row in self.db.execute("SELECT cell_id, item_id, row FROM samples"):
            self._json("samples", f"cell {cid} item {item}", row, _SAMPLE)
        for cid, item, scorer, result in self.db.execute("SELECT cell_id, item_id, scorer, result FROM scores"):
            self._json("scores", f"cell {cid} item {item} scorer {scorer}", result, result_shape(scorer))

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], version + 1):
            self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def config(self) -> dict:
        """The study config the run was made with ({} before the first run)."""
        return self._meta_json("config", "{}")

    def active_cell_ids(self) -> set[str]:
        """The cells the current config shows (others stay stored, e.g. after --allow-extend)."""
        return set(self._meta_json("active_cells", "[]"))

    def set_active(self, ids: Iterable[str]) -> None:
        self.set_meta("active_cells", json.dumps(sorted(set(ids))))

    def activate(self, ids: Iterable[str]) -> None:
        self.set_active(self.active_cell_ids() | set(ids))

    def add_templates(self, definitions: dict[str, dict]) -> None:
        """Each template's full definition by name, so the run directory alone describes its templates."""
        self.set_meta("templates", json.dumps({**self.templates(), **definitions}, sort_keys=True))

    def templates(self) -> dict[str, dict]:
        return self._meta_json("templates", "{}")

    def failed_scores(self) -> dict[str, dict]:
        """'CELL/SCORER' -> what a scorer could not score in that cell (every judge call failed) and why."""
        return self._meta_json("failed_scores", "{}")

    def note_failed_scores(self, cell_id: str, scorer: str, failed: list[dict]) -> None:
        """Record (or, with none failed, clear) the failures of one scorer in one cell."""
        record, key = self.failed_scores(), f"{cell_id}/{scorer}"
        if failed:
            record[key] = {"cell": cell_id, "scorer": scorer, "failed": len(failed), "error": failed[0].get("error")}
        else:
            record.pop(key, None)
        self.set_meta("failed_scores", json.dumps(record, sort_keys=True))

    # trainings and variants
    def add_training(self, tid: str, template: str, seed: int, spec: dict) -> None:
        self.db.execute("INSERT OR IGNORE INTO trainings (id, template, seed, spec) VALUES (?, ?, ?, ?)",
                        (tid, template, seed, json.dumps(spec, sort_keys=True)))

    def holds_work(self) -> bool:
        """Whether any sample or finished training run is stored (a run into this store resumes or extends)."""
        return bool(self.db.execute("SELECT EXISTS (SELECT 1 FROM samples) OR EXISTS "
                                    "(SELECT 1 FROM trainings WHERE done = 1)").fetchone()[0])

    def training_done(self, tid: str) -> bool:
        row = self.db.execute("SELECT done FROM trainings WHERE id = ?", (tid,)).fetchone()
        return bool(row and row[0])

    def finish_training(self, tid: str, path: str, record: dict) -> None:
        self.db.execute("UPDATE trainings SET done = 1, path = ?, record = ? WHERE id = ?",
                        (path, json.dumps(record, default=str), tid))

    def checkpoint_steps(self, tid: str) -> list[int]:
        """Steps of the training run's checkpoints registered as models to evaluate."""
        rows = self.db.execute("SELECT step FROM variants WHERE training_id = ? AND step IS NOT NULL", (tid,))
        return sorted(r[0] for r in rows)

    def unfinished_cells_of_training(self, tid: str) -> list[str]:
        """Cells of the run's models (its checkpoints' too) not yet generated, among those a report shows."""
        active = self.active_cell_ids()
        rows = self.db.execute("SELECT c.id, v.step FROM cells c JOIN variants v ON v.id = c.variant_id "
                               "WHERE v.training_id = ? AND c.generated = 0", (tid,))
        return [cid for cid, step in rows if cid in active or step is not None]

    def add_variant(self, vid: str, training_id: str | None, label: str, train_template: str | None,
                    seed: int | None, step: int | None, adapter: str | None) -> None:
        self.db.execute("INSERT OR IGNORE INTO variants VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (vid, training_id, label, train_template, seed, step, adapter))

    # cells, samples, scores
    def add_cell(self, cid: str, variant_id: str, test_template: str, eval_name: str, spec: dict, n_items: int):
        self.db.execute("INSERT OR IGNORE INTO cells (id, variant_id, test_template, eval_name, spec, n_items) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (cid, variant_id, test_template, eval_name,
                                                      json.dumps(spec, sort_keys=True), n_items))

    def cell_generated(self, cid: str) -> bool:
        row = self.db.execute("SELECT generated FROM cells WHERE id = ?", (cid,)).fetchone()
        return bool(row and row[0])

    def mark_generated(self, cid: str) -> None:
        self.db.execute("UPDATE cells SET generated = 1 WHERE id = ?", (cid,))

    def sample_ids(self, cid: str) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT item_id FROM samples WHERE cell_id = ?", (cid,))}

    def add_samples(self, cid: str, rows: Iterable[dict]) -> None:
        """One transaction: the samples of a finished batch are all stored or none are."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO samples VALUES (?, ?, ?)",
                                [(cid, r["id"], json.dumps(r, ensure_ascii=False)) for r in rows])

    def samples(self, cid: str) -> list[dict]:
        rows = self.db.execute("SELECT item_id, row FROM samples WHERE cell_id = ? ORDER BY rowid", (cid,))
        return [self._json("samples", f"cell {cid} item {item}", row, _SAMPLE) for item, row in rows]

    def scored_ids(self, cid: str, scorer: str) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT item_id FROM scores WHERE cell_id = ? AND scorer = ?",
                                              (cid, scorer))}

    def add_scores(self, cid: str, scorer: str, pairs: Iterable[tuple[str, dict | None]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)",
                                [(cid, item_id, scorer, json.dumps(result)) for item_id, result in pairs])

    def scores(self, cid: str, scorer: str) -> dict[str, dict | None]:
        rows = self.db.execute("SELECT item_id, result FROM scores WHERE cell_id = ? AND scorer = ?", (cid, scorer))
        shape = result_shape(scorer)
        return {item: self._json("scores", f"cell {cid} item {item} scorer {scorer}", result, shape)
                for item, result in rows}

    def scorer_names(self, cid: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT scorer FROM scores WHERE cell_id = ?", (cid,))]

    def active_cells(self) -> list[dict]:
        active = self.active_cell_ids()
        return [c for c in self.cells() if c["id"] in active]

    def cells(self) -> list[dict]:
        """Every cell joined with its variant, for reports."""
        q = ("SELECT c.id, c.test_template, c.eval_name, c.spec, c.n_items, c.generated, v.id, v.label, "
             "v.train_template, v.seed, v.step, v.adapter FROM cells c JOIN variants v ON v.id = c.variant_id "
             "ORDER BY c.rowid")
        keys = ("id", "test_template", "eval_name", "spec", "n_items", "generated", "variant_id", "label",
                "train_template", "seed", "step", "adapter")
        out = []
        for row in self.db.execute(q):
            d = dict(zip(keys, row, strict=True))
            where = f"{self.path}: table cells, cell {d['id']}"
            d["spec"] = self._json("cells", f"cell {d['id']}", d["spec"], _OBJECT)
            try:
                out.append(StoredCell.model_validate(d).model_dump())
            except ValidationError as err:
                raise PtstError(f"{describe_validation_error(err, where)}; {_DAMAGED}") from None
        return out

    def close(self) -> None:
        self.db.close()
