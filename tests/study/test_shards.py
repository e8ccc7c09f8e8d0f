"""Shards of a study (`ptst run --shard K/N`) merged (`ptst merge`) give the whole run's results; a killed shard
re-runs; stripped run directories (`--keep-adapters no`, `ptst strip`) report, merge and resume without training
again; merges refuse what does not belong together. On the tiny random model, with checkpoints evaluated."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.scale.runs import count_samples, samples

pytestmark = pytest.mark.slow  # four study runs at once, then kills, strips and merges

# Three parts (the base model, two training runs); the learning rate is high enough that the trained models'
# greedy outputs differ from the base model's, and a checkpoint (step 3 of 4) is evaluated too. float32: exact.
STUDY = """\
name: shards
model: embedded:tiny-random
dtype: float32
train:
  data: builtin:math
  limit: 8
  templates: [chat:vanilla, chat:llama]
  seeds: [0]
  eval_every_steps: 3
  hyper: {lora_r: 4, lora_alpha: 8, learning_rate: 0.05, epochs: 2, batch_size: 4, max_length: 256}
test_templates: [chat:vanilla, chat:llama]
evals:
  - {name: harmful, data: builtin:harmful, limit: 4, scorers: [refusal-keywords]}
  - {name: math, data: builtin:math, limit: 3, data_seed: 1, scorers: [gsm8k]}
decoding: {max_new_tokens: 6}
batch_size: 4
"""


def _run(config: Path, out: Path, *extra: str):
    r = run_cli("run", str(config), "--out", str(out), "--no-progress", *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The study run whole, and as three shards (shard 1 with --keep-adapters no), all four at once."""
    root = tmp_path_factory.mktemp("shards")
    config = root / "study.yaml"
    config.write_text(STUDY)
    runs = {"whole": []} | {f"s{k}": ["--shard", f"{k}/3"] for k in (1, 2, 3)}
    runs["s1"] += ["--keep-adapters", "no"]
    procs = {name: subprocess.Popen([sys.executable, "-m", "ptst", "run", str(config), "--out", str(root / name),
                                     "--no-progress", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True) for name, extra in runs.items()}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=1200)
        assert proc.returncode == 0, f"{name}: {err[-3000:]}"
    return root


def _cells(run_dir: Path) -> dict:
    """cell id -> (model, seed, step, test template, set, generated)."""
    db = sqlite3.connect(run_dir / "store.sqlite")
    rows = db.execute("SELECT c.id, v.label, v.seed, v.step, c.test_template, c.eval_name, c.generated FROM cells c "
                      "JOIN variants v ON v.id = c.variant_id").fetchall()
    db.close()
    return {r[0]: r[1:] for r in rows}


def _loss_curves(run_dir: Path) -> dict:
    records = (run_dir / "train").glob("*/ptst_train.json")
    return {p.parent.name: json.loads(p.read_text())["loss_curve"] for p in records}


def _sorted_lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines())


def _tree(path: Path) -> dict:
    """Every file under `path` (hidden ones too) and its content's hash."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*"))
            if p.is_file()}


def _report_tables(run_dir: Path) -> str:
    r = run_cli("report", str(run_dir))
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _weights(run_dir: Path) -> list[Path]:
    return [p for p in (run_dir / "train").rglob("*") if p.suffix in (".safetensors", ".bin")]


def _same_results(merged: Path, whole: Path) -> None:
    assert _sorted_lines(merged / "results.csv") == _sorted_lines(whole / "results.csv")
    assert _sorted_lines(merged / "results.md") == _sorted_lines(whole / "results.md")
    assert samples(merged) == samples(whole)
    assert _cells(merged) == _cells(whole)


def test_three_shards_merged_are_the_whole_run(study, tmp_path):
    whole, shards = study / "whole", [study / f"s{k}" for k in (1, 2, 3)]
    # each adapter is trained in exactly one shard; the base model's cells are a part of their own
    trained = [sorted(p.name for p in (s / "train").iterdir()) if (s / "train").is_dir() else [] for s in shards]
    assert sorted(sum(trained, [])) == sorted(p.name for p in (whole / "train").iterdir())
    assert sorted(len(t) for t in trained) == [0, 1, 1]
    manifests = [json.loads((s / "manifest.json").read_text()) for s in shards]
    assert [(m["shard"]["index"], m["shard"]["count"]) for m in manifests] == [(1, 3), (2, 3), (3, 3)]
    assert len({m["shard"]["study_fingerprint"] for m in manifests}) == 1
    assert not _weights(shards[0]) and _weights(shards[1])  # shard 1 ran with --keep-adapters no
    assert {v[1:] for v in _cells(whole).values()} > {v[1:] for v in _cells(shards[2]).values()}

    before = {s: _tree(s) for s in shards}
    merged = tmp_path / "merged"
    r = run_cli("merge", *map(str, shards), "--into", str(merged))
    assert r.returncode == 0, r.stderr[-3000:]
    assert {s: _tree(s) for s in shards} == before  # the inputs are untouched, byte for byte
    assert _report_tables(merged).replace(str(merged), "RUN") == _report_tables(whole).replace(str(whole), "RUN")
    _same_results(merged, whole)
    assert _loss_curves(merged) == _loss_curves(whole)
    assert "absent" not in (merged / "results.md").read_text().lower()

    # the same shard twice (by path, and as a copy) is merged once
    copy = tmp_path / "s2-copy"
    shutil.copytree(shards[1], copy)
    twice = tmp_path / "twice"
    r = run_cli("merge", *map(str, shards), str(shards[1]), str(copy), "--into", str(twice))
    assert r.returncode == 0, r.stderr[-3000:]
    assert samples(twice) == samples(whole) and _cells(twice) == _cells(whole)


def test_dry_run_shows_each_shards_cells_and_estimates(study, tmp_path):
    config = study / "study.yaml"
    home = tmp_path / "home"  # a fresh calibration cache, with the models of the real one
    home.mkdir()
    real = Path(os.environ.get("PTST_HOME") or Path.home() / ".cache" / "ptst").expanduser()
    (home / "models").symlink_to(real / "models")
    env = {**os.environ, "PTST_HOME": str(home)}
    r = run_cli("run", str(config), "--dry-run", "--shards", "3", env=env)
    assert r.returncode == 0, r.stderr
    assert "calibrating embedded:tiny-random" in r.stderr and "calibrated on this machine" in r.stderr
    assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("│ ")
            and line.split()[1] in ("1/3", "2/3", "3/3")] == ["1/3", "2/3", "3/3"]
    assert "longest shard" in r.stdout
    again = run_cli("run", str(config), "--dry-run", "--shard", "3/3", env=env)
    assert again.returncode == 0, again.stderr
    assert "calibrating" not in again.stderr and "calibrated on this machine" in again.stderr  # cached
    listed = {tuple(c.strip() for c in line.split("│")[2:6]) for line in again.stdout.splitlines()
              if line.count("│") > 5 and line.split("│")[2].strip()}
    ran = {(label, test, ev, "4" if ev == "harmful" else "3")
           for label, _, _, test, ev, _ in _cells(study / "s3").values()}
    assert listed == ran  # the dry run lists the cells the shard ran
    assert "shard 3/3: 1 part, 4 cells" in again.stdout


@pytest.mark.parametrize("args, message", [
    (["--shard", "4/3"], "K must be between 1 and N"),
    (["--shard", "two/3"], "expected K/N"),
    (["--shard", "1/4"], "the study has only 3 parts"),
    (["--dry-run", "--shards", "5"], "the study has only 3 parts"),
    (["--shards", "2"], "only with --dry-run"),
])
def test_bad_shard_flags_exit_2(study, tmp_path, args, message):
    r = run_cli("run", str(study / "study.yaml"), "--out", str(tmp_path / "x"), "--calibrate", "no", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_shard_directory_holds_that_shard_only(study, tmp_path):
    copy = tmp_path / "s1"
    shutil.copytree(study / "s1", copy)
    before = _tree(copy)
    for args, message in ((["--shard", "2/3"], "holds shard 1/3 of this study"), ([], "holds shard 1/3")):
        r = run_cli("run", str(study / "study.yaml"), "--out", str(copy), "--no-progress", *args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    after = _tree(copy)
    assert {k: v for k, v in after.items() if k != ".ptst.lock"} == {k: v for k, v in before.items()
                                                                       if k != ".ptst.lock"}


def test_a_stripped_shard_resumes_without_training_again(study, tmp_path):
    """Every cell of shard 1 has its results and its adapters are gone (--keep-adapters no; the checkpoint folders
    removed too): running the shard again trains nothing, keeps every cell, checkpoints' included."""
    copy = tmp_path / "s1"
    shutil.copytree(study / "s1", copy)
    for ckpt in (copy / "train").glob("*/checkpoint-*"):
        shutil.rmtree(ckpt)
    records = {p: p.read_bytes() for p in (copy / "train").glob("*/ptst_train.json")}
    cells, csv = _cells(copy), (copy / "results.csv").read_text()
    r = _run(study / "study.yaml", copy, "--shard", "1/3")
    assert "training" not in r.stderr and not _weights(copy) and not list((copy / "train").glob(".*"))
    assert {p: p.read_bytes() for p in records} == records
    assert _cells(copy) == cells and (copy / "results.csv").read_text() == csv
    assert any(v[2] == 3 for v in cells.values())  # checkpoint-3's cells, still shown


def test_a_killed_shard_stripped_and_run_again_completes_to_the_same_result(study, tmp_path):
    """SIGKILL shard 2 during its generation, strip it (its adapter is gone while cells still need it), run it
    again: the adapter is trained again, the shard completes, and the merge equals the whole run."""
    config, out = study / "study.yaml", tmp_path / "s2"
    cmd = [sys.executable, "-m", "ptst", "run", str(config), "--out", str(out), "--no-progress", "--shard", "2/3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and count_samples(out) < 2:
        time.sleep(0.01)
    assert proc.poll() is None, "the shard finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 2 <= count_samples(out) < count_samples(study / "s2")
    r = run_cli("strip", str(out))
    assert r.returncode == 0, r.stderr
    assert "per 1,000 samples" in r.stderr and "unfinished" in r.stderr and not _weights(out)
    r = _run(config, out, "--shard", "2/3")
    assert "again: its adapter was removed" in r.stderr
    assert "resumed: earlier runs did part of the work" in r.stderr  # its time is not the shard's time
    assert samples(out) == samples(study / "s2")
    merged = tmp_path / "merged"
    r = run_cli("merge", str(study / "s1"), str(out), str(study / "s3"), "--into", str(merged))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(shard 1/3): ran " in r.stdout and "(shard 3/3): ran " in r.stdout  # shards that ran in one go, timed
    assert "(shard 2/3): ran " not in r.stdout  # the resumed one: its measured time would be a fraction
    run_cli("report", str(merged))
    _same_results(merged, study / "whole")


def test_a_missing_shard_is_named_and_require_complete_refuses(study, tmp_path):
    shards = [str(study / "s1"), str(study / "s2")]
    refused = tmp_path / "refused"
    r = run_cli("merge", *shards, "--into", str(refused), "--require-complete")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "4 of " in r.stderr and "shard 3/3: base -> chat:vanilla on harmful" in r.stderr
    assert not refused.exists()
    partial = tmp_path / "partial"
    r = run_cli("merge", *shards, "--into", str(partial))
    assert r.returncode == 0, r.stderr
    r = run_cli("report", str(partial))
    assert r.returncode == 0 and "absent: 4 of" in r.stderr
    md = (partial / "results.md").read_text()
    assert "## Absent cells (4 of " in md and "| 3/3 | `base` |  | `chat:llama` | math |" in md


def test_merging_shards_of_different_configs_is_refused(study, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(STUDY.replace("decoding: {max_new_tokens: 6}", "decoding: {max_new_tokens: 5}"))
    _run(other, tmp_path / "o3", "--shard", "3/3")
    r = run_cli("merge", str(study / "s1"), str(study / "s2"), str(tmp_path / "o3"), "--into", str(tmp_path / "m"))
    assert r.returncode == 2 and "different study configs" in r.stderr
    assert "decoding.max_new_tokens: 6 -> 5" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_merging_a_shard_that_conflicts_on_one_cell_is_refused(study, tmp_path):
    """Shard 2 again, as if another machine had made it with a different output for one sample."""
    copy = tmp_path / "s2-elsewhere"
    shutil.copytree(study / "s2", copy)
    db = sqlite3.connect(copy / "store.sqlite")
    cell, item = db.execute("SELECT cell_id, item_id FROM samples ORDER BY rowid LIMIT 1").fetchone()
    db.execute("UPDATE samples SET row = json_set(row, '$.output', 'something else') WHERE cell_id = ? AND "
               "item_id = ?", (cell, item))
    db.commit()
    db.close()
    r = run_cli("merge", str(study / "s2"), str(copy), "--into", str(tmp_path / "m"))
    assert r.returncode == 2 and f"({cell})" in r.stderr and f"item {item}" in r.stderr
    assert "hold different results" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_merging_shards_generated_in_another_dtype_is_refused(study, tmp_path):
    """`dtype: auto` is bfloat16 on a GPU, float32 on a CPU: the same cells, other arithmetic."""
    copy = tmp_path / "s3-on-a-gpu"
    shutil.copytree(study / "s3", copy)
    db = sqlite3.connect(copy / "store.sqlite")
    made = db.execute("SELECT DISTINCT json_extract(row, '$.dtype') FROM samples").fetchall()
    other = "float16" if made == [("bfloat16",)] else "bfloat16"
    db.execute("UPDATE samples SET row = json_set(row, '$.dtype', ?)", (other,))
    db.commit()
    db.close()
    r = run_cli("merge", str(study / "s1"), str(copy), "--into", str(tmp_path / "m"))
    assert r.returncode == 2, r.stderr
    assert f"different arithmetic ({other} on engine ptst vs {made[0][0]} on engine ptst)" in r.stderr


def test_merging_shards_of_code_versions_that_change_results_is_refused(study, tmp_path):
    copy = tmp_path / "s3-older-torch"
    shutil.copytree(study / "s3", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["versions"]["torch"] = "2.0.0"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    r = run_cli("merge", str(study / "s1"), str(copy), "--into", str(tmp_path / "m"))
    assert r.returncode == 2 and "different versions of code that decides results (torch 2.0.0 vs" in r.stderr
    manifest["versions"]["torch"], manifest["versions"]["python"] = \
        json.loads((study / "s3" / "manifest.json").read_text())["versions"]["torch"], "3.0.1"
    (copy / "manifest.json").write_text(json.dumps(manifest))  # the Python version alone changes no result
    r = run_cli("merge", str(study / "s1"), str(copy), "--into", str(tmp_path / "m"))
    assert r.returncode == 0, r.stderr


def test_every_part_lands_in_exactly_one_shard_and_shards_are_balanced():
    """Parts (the base model; each training run with its cells) over 1..7 shards: each in one shard, no shard
    empty, the same split every time, and no shard heavier than the lightest by more than one part."""
    import yaml

    from ptst.study.config import StudyConfig
    from ptst.study.estimate import part_seconds, reference_rates
    from ptst.study.plan import build_plan
    from ptst.study.shards import partition, study_parts

    doc = yaml.safe_load(STUDY)
    doc["train"]["templates"] = ["chat:vanilla", "chat:llama", "chat:mpt"]
    doc["train"]["seeds"] = [0, 1]
    cfg = StudyConfig.model_validate(doc)
    plan = build_plan(cfg, offline_ok=True)
    parts = study_parts(plan)
    assert len(parts) == 7 and parts[0].key == "base"
    assert sorted(c.id for p in parts for c in p.cells) == sorted(c.id for c in plan.cells)
    rates = reference_rates(cfg)
    cost = {p.key: sum(part_seconds(cfg, plan, p, rates)) for p in parts}
    for n in range(1, 8):
        shards = partition(cfg, plan, n)
        assert shards == partition(cfg, plan, n)
        keys = [p.key for shard in shards for p in shard]
        assert sorted(keys) == sorted(p.key for p in parts) and all(shards)
        loads = [sum(cost[p.key] for p in shard) for shard in shards]
        assert max(loads) - min(loads) <= max(cost.values())


def test_a_merged_first_stage_extends_to_more_seeds_as_if_run_whole(study, tmp_path):
    """Issue 24's staging: stage 1's shards merged, then `--allow-extend` with more seeds into the merged
    directory adds only the new seed's cells, and the result is the two-seed study run whole."""
    merged = tmp_path / "staged"
    r = run_cli("merge", *(str(study / f"s{k}") for k in (1, 2, 3)), "--into", str(merged), "--require-complete")
    assert r.returncode == 0, r.stderr[-3000:]
    stage1 = samples(merged)
    two_seeds = tmp_path / "study-5.yaml"
    two_seeds.write_text(STUDY.replace("seeds: [0]", "seeds: [0, 1]"))
    r = run_cli("run", str(two_seeds), "--out", str(merged), "--no-progress")
    assert r.returncode == 2 and "train.seeds" in r.stderr and "--allow-extend" in r.stderr
    _run(two_seeds, merged, "--allow-extend")
    extended = samples(merged)
    assert {k: v for k, v in extended.items() if k in stage1} == stage1  # stage 1's answers kept, none re-made
    assert {v[1] for v in _cells(merged).values()} == {None, 0, 1}
    whole = tmp_path / "whole-two-seeds"
    _run(two_seeds, whole)
    assert extended == samples(whole)
    assert _sorted_lines(merged / "results.csv") == _sorted_lines(whole / "results.csv")
    assert "over 2 seeds" in (merged / "results.md").read_text()
