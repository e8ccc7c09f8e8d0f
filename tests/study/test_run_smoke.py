"""`ptst run` on the smoke study: the report, SIGKILL at several points then resume to the same results,
changed configs refused or extended, and every shipped config passing --dry-run."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_DATA, run_cli

SMOKE = ROOT / "configs" / "smoke.yaml"


def _samples(run_dir: Path) -> dict:
    db = sqlite3.connect(run_dir / "store.sqlite")
    rows = db.execute("SELECT cell_id, item_id, json_extract(row, '$.output') FROM samples").fetchall()
    db.close()
    return {(c, i): o for c, i, o in rows}


def _count(run_dir: Path) -> int:
    try:
        db = sqlite3.connect(run_dir / "store.sqlite", timeout=5)
        n = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        db.close()
        return n
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    r = run_cli("run", str(SMOKE), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r


@pytest.mark.slow  # the smoke study
def test_run_writes_report_and_prints_the_table(reference_run):
    out, r = reference_run
    for name in ("manifest.json", "store.sqlite", "results.csv", "results.md", "report.html", "tradeoff.png",
                 "heatmap_harmful_asr_keyword.png"):
        assert (out / name).is_file(), name
    assert "harmful: attack success (keywords)" in r.stdout and "chat:vanilla" in r.stdout
    rows = list(csv.DictReader((out / "results.csv").open()))
    cells = {(x["train_template"], x["test_template"], x["dataset"]) for x in rows}
    assert len(cells) == 3 * 2 * 3  # base + 2 trained, 2 test templates, 3 sets
    assert {x["metric"] for x in rows} >= {"asr_keyword", "refusal_rate", "accuracy_strict", "accuracy_flexible"}
    md = (out / "results.md").read_text()
    assert "| `base` |" in md and "**" in md and "_" in md  # PTST cells bold, diagonal italic
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "exact prompt" in html
    # the statistics of results.md, with what each interval covers, are in the page too
    assert "<h2>What the intervals cover</h2>" in html and "covers requests only" in html
    assert "exact McNemar" in html and "<table>" in html.split("What the intervals cover")[1]


@pytest.mark.slow  # the smoke study
def test_sigkill_at_several_points_then_resume_gives_the_same_results(reference_run, tmp_path):
    ref, _ = reference_run
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ptst", "run", str(SMOKE), "--out", str(out), "--no-progress"]
    train_dir = out / "train"
    kill_points = [
        lambda: train_dir.is_dir() and any(".partial" in p.name for p in train_dir.iterdir()),
        lambda: _count(out) >= 5,
        lambda: _count(out) >= 40,
        lambda: _count(out) >= 70,
    ]
    killed = 0
    for point in kill_points:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline and not point():
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
    assert killed >= 3
    r = run_cli("run", str(SMOKE), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    got, want = _samples(out), _samples(ref)
    assert got.keys() == want.keys()  # no sample lost or duplicated (the primary key forbids duplicates)
    assert got == want
    assert (out / "results.csv").read_text() == (ref / "results.csv").read_text()
    assert not list(train_dir.glob(".*partial*"))  # the training killed half-way left nothing behind


@pytest.mark.slow  # the smoke study
def test_changed_config_is_refused_then_extended(reference_run, tmp_path):
    ref, _ = reference_run
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    changed = tmp_path / "smoke.yaml"
    changed.write_text(SMOKE.read_text().replace("test_templates: [chat:vanilla, chat:llama]",
                                                 "test_templates: [chat:vanilla, chat:llama, chat:mpt]"))
    r = run_cli("run", str(changed), "--out", str(out), "--no-progress")
    assert r.returncode == 2 and "different config" in r.stderr and "test_templates" in r.stderr
    before = _samples(out)
    r = run_cli("run", str(changed), "--out", str(out), "--no-progress", "--allow-extend")
    assert r.returncode == 0, r.stderr[-3000:]
    after = _samples(out)
    assert all(after[k] == v for k, v in before.items())  # old cells untouched
    assert len(after) == len(before) * 3 // 2  # one new test template: half as many cells again
    assert not list((out / "train").glob(".*partial*"))
    assert "chat:mpt" in (out / "results.md").read_text()


@pytest.mark.slow  # the smoke study
def test_a_resumed_run_counts_only_the_work_left(reference_run, tmp_path):
    """The bar of a resumed run ends at 100% and its time left is not inflated by what an earlier run did."""
    ref, _ = reference_run
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    assert run_cli("strip", str(out)).returncode == 0  # adapters gone: a cell without results trains it again
    db = sqlite3.connect(out / "store.sqlite")
    (cell, n_items), = db.execute(
        "SELECT c.id, c.n_items FROM cells c JOIN variants v ON c.variant_id = v.id WHERE v.train_template = "
        "'chat:vanilla' AND c.test_template = 'chat:llama' AND c.eval_name = 'harmful'").fetchall()
    with db:
        gone = [i for (i,) in db.execute("SELECT item_id FROM samples WHERE cell_id = ? ORDER BY item_id LIMIT 2",
                                         (cell,))]  # a run killed in the middle of this cell
        for item in gone:
            db.execute("DELETE FROM samples WHERE cell_id = ? AND item_id = ?", (cell, item))
        db.execute("DELETE FROM scores WHERE cell_id = ?", (cell,))
        db.execute("UPDATE cells SET generated = 0 WHERE id = ?", (cell,))
        total, trainings = (db.execute(f"SELECT {q}").fetchone()[0] for q in
                            ("sum(n_items) FROM cells", "count(*) FROM trainings"))
    db.close()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    r = run_cli("run", str(SMOKE), "--out", str(out), "--dry-run", env={**os.environ, "COLUMNS": "400"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert (f"{out} holds {total - len(gone)} of {total} generations and {trainings - 1} of {trainings} training "
            "runs; the time below is what is left") in r.stdout  # chat:vanilla trains again: its adapter is gone
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # a dry run writes nothing
    r = run_cli("run", str(SMOKE), "--out", str(out), env={**os.environ, "PTST_PROGRESS_SECONDS": "0"})
    assert r.returncode == 0, r.stderr[-3000:]
    left = len(gone) + 16  # the cell's 2 missing samples, and chat:vanilla's 16 training examples (4 steps of
    # batch 4) again: the 4 samples the cell still holds are not counted, neither in the total nor as done
    lines = [x for x in r.stderr.splitlines() if x.startswith("study: ")]
    assert lines[0] == f"study: 0/{left} (0.0%), started"
    assert lines[-1].startswith(f"study: {left}/{left} (100.0%), done in")
    assert f"the progress counts the {left} left" in r.stderr and "resuming: " in r.stderr
    assert _samples(out) == _samples(ref)  # the same results as the run that was never interrupted


@pytest.mark.slow  # the smoke study
def test_a_run_made_before_a_setting_existed_resumes_without_a_difference(reference_run, tmp_path):
    ref, _ = reference_run
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    db = sqlite3.connect(out / "store.sqlite")
    db.execute("UPDATE meta SET value = json_remove(value, '$.engine') WHERE key = 'config'")  # as older ptst wrote
    db.commit()
    db.close()
    before = _samples(out)
    r = run_cli("run", str(SMOKE), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _samples(out) == before  # same identities: nothing regenerated


def test_vllm_engine_without_vllm_says_how_to_get_it_before_training(tmp_path):
    cfg = tmp_path / "smoke-vllm.yaml"
    cfg.write_text(SMOKE.read_text() + "engine: vllm\n")
    r = run_cli("run", str(cfg), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 2 and "pip install 'ptst[vllm]'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run" / "train").exists()  # nothing trained for nothing


@pytest.mark.slow  # the smoke study
def test_report_command_rewrites_the_report(reference_run, tmp_path):
    ref, _ = reference_run
    out = tmp_path / "copy"
    shutil.copytree(ref, out)
    (out / "results.md").unlink()
    r = run_cli("report", str(out))
    assert r.returncode == 0 and (out / "results.md").is_file()
    r = run_cli("report", str(tmp_path))
    assert r.returncode == 2 and "no store.sqlite" in r.stderr


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_passes_dry_run(config):
    r = run_cli("run", str(config), "--dry-run", "--calibrate", "no", cwd=ROOT)  # no minute-long calibrations here
    assert r.returncode == 0, r.stderr
    assert "cells" in r.stdout and "time (estimate)" in r.stdout and "time estimate: " in r.stderr


def test_default_study_dry_run():
    r = run_cli("run", "--dry-run", "--calibrate", "no")
    assert r.returncode == 0, r.stderr
    assert "downloading " not in r.stderr and "dequantising " not in r.stderr  # a dry run prepares no model
    assert "training runs" in r.stdout


@pytest.mark.parametrize("body, message", [
    ("model: x\n", "field 'test_templates'"),
    ("model: x\ntest_templates: [chat:llama]\nevals: []\n", "at least one evaluation set"),
    ("model: x\ntest_templates: [chat:nope]\nevals: [{name: h, data: builtin:harmful, scorers: [refusal-keywords]}]\n",
     "unknown template 'chat:nope'"),
    ("model: x\ntest_templates: [chat:llama]\nevals: [{name: h, data: builtin:harmful, scorers: [rubric]}]\n",
     "the rubric scorer needs a judge"),
    ("model: x\ntest_templates: [chat:llama]\nevalz: 3\n", "unknown field 'evalz'"),
])
def test_bad_study_configs_exit_2(tmp_path, body, message):
    f = tmp_path / "s.yaml"
    f.write_text(body)
    r = run_cli("run", str(f), "--dry-run")
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow  # a study with checkpoint evaluations
def test_checkpoints_along_training_give_the_trajectory_plot(tmp_path):
    cfg = tmp_path / "traj.yaml"
    cfg.write_text(SMOKE.read_text().replace("  seeds: [0]\n", "  seeds: [0]\n  eval_every_steps: 2\n")
                   .replace("templates: [chat:vanilla, chat:llama]\n  seeds", "templates: [chat:vanilla]\n  seeds"))
    out = tmp_path / "run"
    r = run_cli("run", str(cfg), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {x["step"] for x in rows} >= {"2", "4", ""}
    assert (out / "trajectory.png").is_file()


@pytest.mark.slow  # the smoke study
def test_audit_samples_harmful_responses_then_measures_the_scorer_against_labels(reference_run, tmp_path):
    out, _ = reference_run
    labels = tmp_path / "labels.csv"
    r = run_cli("audit", "sample", str(out), "--n", "12", "--seed", "3", "--out", str(labels))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(labels.open()))
    assert len(rows) == 12 and all(x["label"] == "" for x in rows) and list(rows[0]) == ["sample", "label",
                                                                                         "input", "output"]
    key = {x["sample"]: x for x in csv.DictReader((tmp_path / "labels.key.csv").open())}  # the hidden cells
    assert {x["eval"] for x in key.values()} <= {"harmful", "math-danger"}  # harmful-role sets, never the task set
    assert all(x["asr:refusal-keywords"] in ("0", "1") for x in key.values())
    again = run_cli("audit", "sample", str(out), "--n", "12", "--seed", "3", "--out", str(labels))
    assert again.returncode == 2 and "exists" in again.stderr  # labels are never overwritten

    # label as the keyword scorer would, except one response it counted as an attack success
    for x in rows:
        x["label"] = "complied" if key[x["sample"]]["asr:refusal-keywords"] == "1" else "refused"
    flipped = next(x for x in rows if x["label"] == "complied")
    flipped["label"] = "refused"
    said = sum(key[x["sample"]]["asr:refusal-keywords"] == "1" for x in rows)
    with labels.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    qi = str(SHARED_DATA / "qi2023-judge" / "refusal_prefixes.json")  # both keyword lists, offline
    r = run_cli("audit", "agreement", str(labels), "--out", str(tmp_path / "agreement.md"),
                env={**os.environ, "PTST_QI2023_PREFIXES": qi})
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines()
                if "| refusal-keywords | attack success (partly or fully complied) |" in x)
    assert f"| {(said - 1) / said:.2f} ({said - 1}/{said}) [" in line and f"| 1.00 ({said - 1}/{said - 1}) [" in line
    assert (tmp_path / "agreement.md").read_text().startswith("12 labelled responses")

    flipped["label"] = "maybe"
    with labels.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    bad = run_cli("audit", "agreement", str(labels))
    line_no = rows.index(flipped) + 2
    assert bad.returncode == 2 and f"labels.csv:{line_no}: field 'label' is 'maybe'" in bad.stderr
    assert "Traceback" not in bad.stderr
