"""The judge cache: judge replies keyed by what decides them (judge model, rubric hash, decoding, instruction,
response). SQLite in WAL mode with a busy timeout, so several processes can read and write it at once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ptst.core.hashing import content_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS judge_cache (
    key TEXT PRIMARY KEY,
    judge_model TEXT NOT NULL,
    rubric_hash TEXT NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def judge_key(judge_model: str, rubric_hash: str, decoding: dict, instruction: str, response: str) -> str:
    return content_hash({"judge_model": judge_model, "rubric": rubric_hash, "decoding": decoding,
                         "instruction": instruction, "response": response}, length=64)


class JudgeCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(SCHEMA)

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT reply FROM judge_cache WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, judge_model: str, rubric_hash: str, reply: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO judge_cache VALUES (?, ?, ?, ?, ?)",
                         (key, judge_model, rubric_hash, reply, time.time()))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0]

    def close(self) -> None:
        self._db.close()
