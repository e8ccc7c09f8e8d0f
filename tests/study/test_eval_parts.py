"""One evaluation set made of several data sets (`plus`, issue 24): e.g. 200 AdvBench requests and the 100
DirectHarm4 disinformation requests scored as one harmful set of 300, each part with its own file and seeded
subsample."""

from __future__ import annotations

import csv
import json
import shutil

import yaml

from ptst.data import load_items
from ptst.study.config import load_study_config
from ptst.study.plan import build_plan, data_identity
from tests.conftest import ROOT, run_cli


def _config(tmp_path, harmful: dict) -> str:
    doc = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    doc["evals"] = [{"name": "harmful", "scorers": ["refusal-keywords"], **harmful}]
    path = tmp_path / f"study-{len(list(tmp_path.glob('study-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _mixed(shared_data, advbench: int = 20, disinfo: int = 10) -> dict:
    return {"data": "advbench", "data_file": str(shared_data / "advbench" / "harmful_behaviors.csv"),
            "limit": advbench, "data_seed": 3,
            "plus": [{"data": "directharm4", "data_file": str(shared_data / "directharm4" / "disinfo-only.jsonl"),
                      "limit": disinfo}]}


def test_a_set_with_parts_holds_each_parts_own_subsample_in_order(tmp_path, shared_data):
    cfg = load_study_config(_config(tmp_path, _mixed(shared_data)))
    plan = build_plan(cfg)
    items = plan.eval_items["harmful"]
    advbench = load_items("advbench", data_file=shared_data / "advbench" / "harmful_behaviors.csv", limit=20,
                          seed=3)
    disinfo = load_items("directharm4", data_file=shared_data / "directharm4" / "disinfo-only.jsonl", limit=10)
    assert items == advbench + disinfo and len(items) == 30 == plan.items["harmful"]
    assert {i.id.split("-")[0] for i in items} == {"advbench", "directharm4"}
    with open(shared_data / "directharm4" / "disinfo-only.jsonl") as f:  # the part's rows, read here directly
        rows = [json.loads(line)["instruction"] for line in f]
    assert set(i.input for i in items[20:]) <= set(rows)
    with open(shared_data / "advbench" / "harmful_behaviors.csv", newline="") as f:
        goals = {r["goal"] for r in csv.DictReader(f)}
    assert {i.input for i in items[:20]} <= goals


def test_the_parts_are_part_of_the_sets_identity_and_a_set_without_parts_keeps_its_own(tmp_path, shared_data):
    mixed = load_study_config(_config(tmp_path, _mixed(shared_data)))
    fewer = load_study_config(_config(tmp_path, _mixed(shared_data, disinfo=9)))
    plain = load_study_config(_config(tmp_path, {k: v for k, v in _mixed(shared_data).items() if k != "plus"}))
    assert "plus" not in data_identity(plain.evals[0])  # cells made before `plus` existed keep their ids
    ids = [{c.id for c in build_plan(cfg).cells} for cfg in (mixed, fewer, plain)]
    assert ids[0].isdisjoint(ids[1]) and ids[0].isdisjoint(ids[2])


def test_a_relative_part_path_resolves_against_the_config_folder(tmp_path, shared_data):
    (tmp_path / "data").mkdir()
    shutil.copy(shared_data / "directharm4" / "disinfo-only.jsonl", tmp_path / "data" / "disinfo.jsonl")
    spec = _mixed(shared_data)
    spec["plus"][0]["data_file"] = "data/disinfo.jsonl"
    plan = build_plan(load_study_config(_config(tmp_path, spec)))
    assert len(plan.eval_items["harmful"]) == 30


def test_parts_of_another_role_or_a_part_twice_are_refused_in_one_line(tmp_path, shared_data):
    spec = _mixed(shared_data)
    spec["plus"].append({"data": "builtin:math", "limit": 3})
    r = run_cli("run", _config(tmp_path, spec), "--dry-run", "--calibrate", "no")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "plus[1]: builtin:math holds task items, advbench harmful items" in r.stderr
    spec = _mixed(shared_data)
    spec["plus"].append(dict(spec["plus"][0]))
    r = run_cli("run", _config(tmp_path, spec), "--dry-run", "--calibrate", "no")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "evals harmful: item directharm4-" in r.stderr and "comes from two of its parts" in r.stderr


def test_an_unknown_part_is_named_with_its_field(tmp_path, shared_data):
    spec = _mixed(shared_data)
    spec["plus"][0]["data"] = "directharm44"
    r = run_cli("run", _config(tmp_path, spec), "--dry-run", "--calibrate", "no")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "evals[0] (harmful).plus[0].data: unknown data set 'directharm44'" in r.stderr


def test_a_scorer_whose_instrument_cannot_be_had_stops_the_run_before_any_compute(tmp_path):
    """Qi et al.'s prefix list is fetched from its pinned origin; offline without a local copy the run must stop
    at once, naming the scorer's key, not after training and generating (as it did before)."""
    import os

    doc = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    doc["evals"] = [{"name": "harmful", "data": "builtin:harmful", "limit": 2,
                     "scorers": ["refusal-keywords", "refusal-keywords-qi2023"]}]
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if k != "PTST_QI2023_PREFIXES"}
    env.update(PTST_HOME=str(tmp_path / "home"), HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9")
    r = run_cli("run", str(config), "--out", str(tmp_path / "run"), "--no-progress", env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "evals[0] (harmful).scorers: qi2023-refusal-prefixes: cannot fetch" in r.stderr
    assert "PTST_QI2023_PREFIXES" in r.stderr and not (tmp_path / "run").exists()
