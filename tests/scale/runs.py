"""Reading a study's store for comparisons (shared by the Ray and the vLLM tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def samples(run_dir: Path) -> dict:
    """(cell, item) -> generated output, for every stored sample."""
    db = sqlite3.connect(run_dir / "store.sqlite")
    rows = db.execute("SELECT cell_id, item_id, json_extract(row, '$.output') FROM samples").fetchall()
    db.close()
    return {(c, i): o for c, i, o in rows}


def scores(run_dir: Path) -> dict:
    """(cell, item, scorer) -> the stored score (JSON text)."""
    db = sqlite3.connect(run_dir / "store.sqlite")
    rows = db.execute("SELECT cell_id, item_id, scorer, result FROM scores").fetchall()
    db.close()
    return {(c, i, s): result for c, i, s, result in rows}


def count_samples(run_dir: Path) -> int:
    try:
        db = sqlite3.connect(run_dir / "store.sqlite", timeout=5)
        n = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        db.close()
        return n
    except sqlite3.Error:
        return 0
