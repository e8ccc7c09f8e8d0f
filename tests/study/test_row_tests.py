"""Per-row test templates (issue 24): a study names, row by row, the test templates each trained model is deployed
with, in place of testing every row under every column. The cells that remain keep the identities they have in the
full grid, so a run made either way resumes and merges with the other."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from ptst.study.config import load_study_config
from ptst.study.plan import build_plan
from tests.conftest import ROOT, run_cli

ROWS = {"base": ["chat:vanilla", "chat:llama"], "chat:llama": ["chat:llama"]}


def _config(tmp_path, **changes):
    doc = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    doc["test_templates"] = ["chat:vanilla", "chat:llama", "chat:self-reminder"]
    doc.update(changes)
    path = tmp_path / f"study-{len(list(tmp_path.glob('study-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _pairs(plan) -> set[tuple[str, str]]:
    return {(c.variant.label, c.test_template) for c in plan.cells}


def test_each_row_gets_its_own_columns_and_the_cells_keep_their_identities(tmp_path):
    per_row = build_plan(load_study_config(_config(tmp_path, row_tests=ROWS)))
    full = build_plan(load_study_config(_config(tmp_path)))
    three = {"chat:vanilla", "chat:llama", "chat:self-reminder"}
    assert _pairs(per_row) == ({("base", t) for t in ROWS["base"]} | {("chat:llama", "chat:llama")}
                               | {("chat:vanilla", t) for t in three})  # a row not named keeps every column
    assert len(per_row.cells) == 6 * 3
    assert {c.id for c in per_row.cells} < {c.id for c in full.cells}
    assert [t.id for t in per_row.trainings] == [t.id for t in full.trainings]


def test_a_row_that_is_not_in_the_study_is_refused_naming_the_rows(tmp_path):
    r = run_cli("run", str(_config(tmp_path, row_tests={"chat:alpaca": ["chat:llama"]})), "--dry-run",
                "--calibrate", "no")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "row_tests: 'chat:alpaca' is not a row of this study (its rows: base, chat:vanilla, chat:llama)" in r.stderr
    r = run_cli("run", str(_config(tmp_path, row_tests={"base": ["chat:nope"]})), "--dry-run", "--calibrate", "no")
    assert r.returncode == 2 and "row_tests.base" in r.stderr and "chat:nope" in r.stderr


@pytest.mark.slow  # a study run
def test_a_study_with_per_row_columns_runs_and_reports_only_those_cells(tmp_path):
    out = tmp_path / "run"
    dry = run_cli("run", str(_config(tmp_path, row_tests=ROWS)), "--dry-run", "--calibrate", "no")
    assert dry.returncode == 0 and "6 variant x test template pairs x 3 sets" in dry.stdout, dry.stdout + dry.stderr
    r = run_cli("run", str(_config(tmp_path, row_tests=ROWS)), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    with open(out / "results.csv", newline="") as f:
        pairs = {(row["train_template"], row["test_template"]) for row in csv.DictReader(f)}
    assert pairs == {("base", "chat:vanilla"), ("base", "chat:llama"), ("chat:llama", "chat:llama"),
                     ("chat:vanilla", "chat:vanilla"), ("chat:vanilla", "chat:llama"),
                     ("chat:vanilla", "chat:self-reminder")}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["row_tests"] == ROWS and "chat:self-reminder" in manifest["templates"]
    assert (out / "report.html").is_file() and "chat:self-reminder" in (out / "results.md").read_text()
