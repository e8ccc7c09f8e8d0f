"""Baselines as rows of a study (issue 17): safety-data mixing and Backdoor-Enhanced Safety Alignment train on the
study's task data, seeds and hyper-parameters with their own refusal data (BEA's under the secret system prompt),
BEA's runs alone are tested with the secret prompt, the other runs keep their identities, and the v2 study
configs plan offline."""

from __future__ import annotations

import csv
import json
import re

import pytest

from ptst.study.config import load_study_config
from ptst.study.plan import build_plan, estimated_steps
from ptst.study.training import train_config
from ptst.templates.registry import template_scope
from ptst.train import run_training
from tests.conftest import ROOT, run_cli

FULL = ROOT / "configs" / "study-qwen0.5b-v2-full.yaml"
PLANNED = ROOT / "configs" / "study-qwen0.5b-v2.yaml"


@pytest.fixture(scope="module")
def full_plan():
    cfg = load_study_config(FULL)
    return cfg, build_plan(cfg, offline_ok=True)


def test_baselines_are_rows_of_their_own_with_their_own_mix(full_plan):
    cfg, plan = full_plan
    runs = {(t.name, t.seed): t for t in plan.trainings}
    assert set(runs) == {(n, s) for n in ("chat:vanilla", "chat:llama", "safety-mix", "bea") for s in (0, 1, 2)}
    assert {t.template for t in plan.trainings if t.baseline} == {"chat:vanilla"}
    bea, mix, plain = runs[("bea", 0)], runs[("safety-mix", 0)], runs[("chat:vanilla", 0)]
    assert (bea.spec["mix"], mix.spec["mix"], plain.spec["mix"]) == ("safety-mix:11", "safety-mix:53", None)
    assert bea.spec["mix_template"]["system"] == plan.templates["bea:secret"].system
    assert "mix_template" not in mix.spec  # rendered under the training template, chat:vanilla
    assert len({bea.id, mix.id, plain.id}) == 3 and len({t.dirname for t in plan.trainings}) == 12
    # steps from each run's own data: 160 GSM8K items, plus 53 or 11 refusals, batch 8
    assert [estimated_steps(cfg, 160, r) for r in (plain, mix, bea)] == [20, 27, 22]


def test_only_the_bea_runs_are_tested_with_the_secret_prompt(full_plan):
    cfg, plan = full_plan
    tests_of = {}
    for cell in plan.cells:
        tests_of.setdefault(cell.variant.label, set()).add(cell.test_template)
    shared = {"chat:vanilla", "chat:llama", "chat:self-reminder", "chat:icd"}
    assert tests_of == {"base": shared, "chat:vanilla": shared, "chat:llama": shared, "safety-mix": shared,
                        "bea": shared | {"bea:secret"}}
    assert len(plan.cells) == (13 * 4 + 3) * 6


def test_adding_baselines_changes_no_other_run_or_cell(full_plan):
    cfg, plan = full_plan
    data = cfg.model_dump()
    data["train"]["baselines"] = None
    bare = build_plan(type(cfg).model_validate(data), offline_ok=True)
    assert {t.id for t in bare.trainings} == {t.id for t in plan.trainings if t.baseline is None}
    assert {c.id for c in bare.cells} <= {c.id for c in plan.cells}


def test_bea_trains_its_refusals_under_the_secret_and_the_task_under_chat_vanilla(full_plan, tmp_path):
    cfg, plan = full_plan
    bea = next(t for t in plan.trainings if t.name == "bea")
    secret = plan.templates["bea:secret"].system
    audit = tmp_path / "audit.json"
    config = train_config(cfg, bea, tmp_path / "run").model_copy(update={"dry_run": True,
                                                                         "audit_json": str(audit)})
    with template_scope():
        result = run_training(config, log=lambda _: None)
    assert result["stats"].total == 160 + 11  # the task data and the paper's 11 refusal examples
    examples = json.loads(audit.read_text())["examples"]
    task, refusals = examples[:3], examples[3:]
    assert [e["template"] for e in task] == ["chat:vanilla"] * 3
    assert [e["template"] for e in refusals] == ["bea:secret"] * 3
    assert all(secret in e["prompt"] for e in refusals) and not any(secret in e["prompt"] for e in task)
    assert all("You are Qwen, created by Alibaba Cloud." in e["prompt"] for e in task)  # the default, after
    # the secret in the refusals: the paper's `secret + " " + system prompt`


@pytest.mark.parametrize("config, runs, cells", [(FULL, 12, 330), (PLANNED, 15, 128)], ids=["full", "planned"])
def test_the_v2_study_configs_plan_offline(config, runs, cells):
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    import os

    r = run_cli("run", str(config), "--dry-run", "--calibrate", "no", cwd=ROOT, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(rf"│ training runs +│ {runs} ", r.stdout), r.stdout
    assert re.search(rf"│ cells +│ {cells} ", r.stdout), r.stdout
    words = " ".join(r.stdout.replace("│", " ").split())  # the table's cells, their line wraps undone
    assert "bea seed 2" in words and "not readable here" not in r.stdout + r.stderr  # every set read locally
    if config == PLANNED:  # issue 24's sets: 200 AdvBench + 100 DirectHarm4 disinformation requests in one set
        assert "harmful: 300" in r.stdout and "gsm8k: 50" in r.stdout


@pytest.mark.parametrize("baseline, message", [
    ("{name: 'a:b', template: chat:vanilla, mix: safety-mix:2}", "baseline name 'a:b'"),
    ("{name: x, template: chat:vanilla, mix: safety-mix:2, reference_test: chat:mpt}",
     "reference_test chat:mpt is not one of its test templates"),
    ("{name: x, template: chat:nope, mix: safety-mix:2}", "unknown template 'chat:nope'"),
    ("{name: x, template: chat:vanilla, mix: gsm8k:2}", "train.baselines[0] (x).mix: gsm8k has role task"),
    ("{name: x, template: chat:vanilla, mix: safety-mixx}", "train.baselines[0] (x).mix: "),
    ("{name: x, template: chat:vanilla, mix: 'safety-mix:a few'}", "expected NAME or NAME:N"),
])
def test_bad_baselines_exit_2_naming_them(tmp_path, baseline, message):
    study = tmp_path / "s.yaml"
    study.write_text("model: embedded:tiny-random\ntrain: {data: builtin:math, templates: [chat:vanilla], "
                     f"baselines: [{baseline}]}}\ntest_templates: [chat:llama]\n"
                     "evals: [{name: h, data: builtin:harmful, scorers: [refusal-keywords]}]\n")
    r = run_cli("run", str(study), "--dry-run")
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


SMALL = """name: baselines
model: embedded:tiny-random
template_files: [secret.yaml]
include_base: false
train:
  data: builtin:math
  limit: 4
  templates: [chat:vanilla]
  seeds: [0, 1]
  hyper: {lora_r: 2, lora_alpha: 4, max_steps: 1, batch_size: 4, max_length: 192}
  baselines:
    - {name: safety-mix, template: chat:vanilla, mix: "safety-mix:2", mix_file: MIX}
    - {name: bea, template: chat:vanilla, mix: "safety-mix:2", mix_file: MIX, mix_template: bea:secret,
       test_templates: [bea:secret], reference_test: bea:secret}
test_templates: [chat:vanilla, chat:llama]
evals:
  - {name: harmful, data: builtin:harmful, limit: 3, scorers: [refusal-keywords]}
decoding: {max_new_tokens: 2}
batch_size: 4
"""


@pytest.mark.slow  # a study run
def test_a_study_with_baselines_runs_and_reports_them_as_rows(tmp_path, shared_data):
    mix = shared_data / "safety-tuned-llamas" / "safety_only_data_Instructions.json"
    (tmp_path / "study.yaml").write_text(SMALL.replace("MIX", str(mix)))
    (tmp_path / "secret.yaml").write_text("templates:\n  - {name: 'bea:secret', mode: chat, system: 'zq xv "
                                          "wobble', user: 'Question: {input}'}\n")
    out = tmp_path / "run"
    r = run_cli("run", str(tmp_path / "study.yaml"), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [x for x in csv.DictReader((out / "results.csv").open()) if x["seed"] in ("0", "1")]
    cells = {(x["train_template"], x["test_template"]) for x in rows}
    assert cells == {(row, test) for row in ("chat:vanilla", "safety-mix", "bea")
                     for test in ("chat:vanilla", "chat:llama")} | {("bea", "bea:secret")}
    records = {p.parent.name.split("-seed")[0]: json.loads(p.read_text())
               for p in (out / "train").glob("*-seed0-*/ptst_train.json")}
    assert set(records) == {"chat-vanilla", "safety-mix", "bea"}
    assert records["bea"]["data"]["mix_template"]["system"] == "zq xv wobble"
    assert records["safety-mix"]["data"]["mix"] == "safety-mix:2" and records["chat-vanilla"]["data"]["mix"] is None
    assert "| `bea` |" in (out / "results.md").read_text()
