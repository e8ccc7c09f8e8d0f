"""Fuzzed run directories: one row of the study store (a sample, a score, a cell, a variant, a training, a meta
value) or manifest.json changed, then `ptst report` and a resumed `ptst run`. A damaged directory is refused,
naming the table and the row, and left byte-identical; one that still reads is reported or resumed."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ptst.core.jsontext import parse_json
from tests.fuzz.harness import examples, run_case
from tests.fuzz.mutate import EDGE_NUMBERS, EDGE_TEXT, dump_json, mutated_bytes, mutated_doc, mutated_yaml

# (table, JSON column or None, plain columns a mutation may change)
TABLES = {"samples": ("row", ("item_id",)), "scores": ("result", ("item_id", "scorer")),
          "cells": ("spec", ("test_template", "eval_name", "n_items", "generated", "variant_id")),
          "variants": (None, ("label", "train_template", "seed", "step", "adapter")),
          "trainings": ("spec", ("template", "seed", "done", "path")), "meta": ("value", ())}
REPORT_FILES = ("results.md", "results.csv", "report.html", "*.png")
RESUME_FILES = (*REPORT_FILES, "manifest.json", "store.sqlite*", ".ptst.lock")


@st.composite
def damaged_store(draw, store: Path) -> None:
    """Change one value of one row of `store`: its JSON (a value mutated, or its text), or a plain column."""
    db = sqlite3.connect(store)
    try:
        table = draw(st.sampled_from(sorted(TABLES)))
        json_column, plain = TABLES[table]
        rowids = [r[0] for r in db.execute(f"SELECT rowid FROM {table}")]
        rowid = draw(st.sampled_from(rowids))
        column = json_column if json_column and (not plain or draw(st.integers(0, 2))) else draw(st.sampled_from(plain))
        (old,) = db.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        kind = draw(st.sampled_from(["json", "json", "text", "sqltype"])) if column == json_column else "sqltype"
        if kind == "json" and isinstance(old, str):
            try:
                new = dump_json(draw(mutated_doc(parse_json(old, "", allow_nan=True))))
            except Exception:  # a meta value that is not JSON (config_hash)
                new = draw(st.sampled_from(EDGE_TEXT))
        elif kind == "text" and isinstance(old, str):
            new = draw(mutated_bytes(old.encode())).decode("utf-8", "replace")
        else:
            new = draw(st.sampled_from(EDGE_NUMBERS) | st.sampled_from(EDGE_TEXT) | st.sampled_from(
                [None, b"\xff\x00", "{}", "[]", "null"]))
            if isinstance(new, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in new):
                new = new.encode("utf-8", "surrogatepass")  # SQLite holds it as bytes
        with db:
            db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (new, rowid))
    except (sqlite3.IntegrityError, OverflowError):  # NOT NULL, a primary key taken, an integer past 64 bits
        pass
    finally:
        db.close()


def _copy(finished_run, root: Path) -> tuple[Path, Path]:
    study, run = finished_run
    shutil.copy(study, root / "study.yaml")
    shutil.copytree(run, root / "run")
    return root / "study.yaml", root / "run"


@settings(max_examples=examples(20))
@given(data=st.data(), manifest=st.integers(0, 4))
def test_report_of_a_damaged_run_directory(data, manifest, finished_run):
    with tempfile.TemporaryDirectory() as tmp:
        _, run = _copy(finished_run, Path(tmp))
        if manifest == 0:
            (run / "manifest.json").write_bytes(data.draw(mutated_yaml(parse_json(
                (run / "manifest.json").read_text(), "manifest"))))
        else:
            data.draw(damaged_store(run / "store.sqlite"))
        run_case("report", ["report", run], Path(tmp), rewrites=REPORT_FILES)


@settings(max_examples=examples(5))
@given(data=st.data())
def test_resumed_run_of_a_damaged_run_directory(data, finished_run, bounded_compute):
    with tempfile.TemporaryDirectory() as tmp:
        study, run = _copy(finished_run, Path(tmp))
        data.draw(damaged_store(run / "store.sqlite"))
        run_case("resume", ["run", study, "--out", run, "--no-progress"], Path(tmp), rewrites=RESUME_FILES,
                 guard=bounded_compute)


def test_the_finished_run_reports_and_resumes(finished_run, tmp_path, bounded_compute):
    study, run = _copy(finished_run, tmp_path)
    assert run_case("valid", ["report", run], tmp_path, rewrites=REPORT_FILES) == 0
    assert run_case("valid", ["run", study, "--out", run, "--no-progress"], tmp_path, rewrites=RESUME_FILES,
                    guard=bounded_compute) == 0
