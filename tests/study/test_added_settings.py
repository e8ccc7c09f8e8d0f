"""A setting added to ptst later, at its default, changes nothing in a run made before it: such a run resumes
without `--allow-extend` and keeps its fingerprint, in nested lists of settings (each baseline, each eval set) too.
A setting changed from its default is still a difference."""

from __future__ import annotations

import copy
import hashlib

import yaml

from ptst.study.config import load_study_config
from ptst.study.open_run import config_differences, fill_added_defaults
from ptst.study.resources import HOW_IT_RUNS
from ptst.study.shards import fingerprint_config
from tests.conftest import ROOT, SHARED_DATA


def _v2(tmp_path, **baseline_changes):
    """A study with a baseline and an eval set (the lists whose entries gained settings)."""
    doc = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    mix_file = SHARED_DATA / "safety-tuned-llamas" / "safety_only_data_Instructions.json"
    doc["train"]["baselines"] = [{"name": "bea", "template": "chat:vanilla", "mix": "safety-mix:4",
                                  "mix_file": str(mix_file), **baseline_changes}]
    path = tmp_path / f"study-{len(list(tmp_path.glob('study-*')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_study_config(path)


def _as_stored_before(cfg) -> dict:
    """The config as a run made before `mix_repeat` and `plus` existed stored it."""
    old = copy.deepcopy(cfg.model_dump(exclude=HOW_IT_RUNS))
    for b in old["train"]["baselines"]:
        b.pop("mix_repeat")
    old["train"].pop("mix_repeat")
    for ev in old["evals"]:
        ev.pop("plus", None)
    return old


def test_settings_added_at_their_default_in_a_list_are_no_difference(tmp_path):
    cfg = _v2(tmp_path)
    new = cfg.model_dump(exclude=HOW_IT_RUNS)
    old = _as_stored_before(cfg)
    assert config_differences(old, new) != []  # what a resume saw before the defaults were filled in
    fill_added_defaults(old, new, type(cfg))
    assert config_differences(old, new) == []


def test_a_setting_changed_from_its_default_is_still_a_difference(tmp_path):
    old = _as_stored_before(_v2(tmp_path))
    new = _v2(tmp_path, mix_repeat=5).model_dump(exclude=HOW_IT_RUNS)
    fill_added_defaults(old, new, type(_v2(tmp_path)))
    assert config_differences(old, new) == ["train.baselines[0].mix_repeat: null -> 5"]


def test_the_fingerprint_leaves_out_settings_at_their_added_default(tmp_path):
    plain = fingerprint_config(_v2(tmp_path))
    assert "mix_repeat" not in plain["train"] and "mix_repeat" not in plain["train"]["baselines"][0]
    assert fingerprint_config(_v2(tmp_path, mix_repeat=5))["train"]["baselines"][0]["mix_repeat"] == 5


def test_the_fingerprint_reads_a_mix_file_of_the_training_runs_themselves(tmp_path):
    doc = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    mix_file = SHARED_DATA / "safety-tuned-llamas" / "safety_only_data_Instructions.json"
    doc["train"].update(mix="safety-mix:4", mix_file=str(mix_file), mix_repeat=2)
    path = tmp_path / "study-mix.yaml"
    path.write_text(yaml.safe_dump(doc))
    train = fingerprint_config(load_study_config(path))["train"]
    assert train["mix_file"] == {"sha256": hashlib.sha256(mix_file.read_bytes()).hexdigest()}
    assert train["mix_repeat"] == 2


def test_settings_added_to_each_judge_of_a_panel_are_no_difference(tmp_path):
    doc = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    doc["judges"] = {"rubric": {"base_url": "http://127.0.0.1:9/v1", "judge_model": "m"}}
    path = tmp_path / "study-judges.yaml"
    path.write_text(yaml.safe_dump(doc))
    cfg = load_study_config(path)
    new = cfg.model_dump(exclude=HOW_IT_RUNS)
    old = copy.deepcopy(new)
    old["judges"]["rubric"].pop("backoff_base")  # as if the judge option came in a later version, at its default
    fill_added_defaults(old, new, type(cfg))
    assert config_differences(old, new) == []
