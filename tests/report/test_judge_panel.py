"""A panel of judges and how far they agree: several scorers on one samples file or study in one command; `ptst
audit agreement` gives pairwise agreement and Cohen's kappa with intervals between every pair of judges (and the
hand labels where there are some); report.html shows each judge's attack success per cell side by side and marks
the cells where their intervals do not overlap."""

from __future__ import annotations

import json
import os

import pytest

from ptst.report.agreement import cohen_kappa, kappa_interval
from tests.conftest import SHARED_DATA, run_cli
from tests.score.judge_server import JudgeServer

GUARD_UNSAFE = {"s0", "s1", "s2", "s4"}  # what the scripted guard calls unsafe


def _rows():
    """s0-s3 comply (keywords and rubric: attack success), s4-s7 refuse."""
    return [{"id": f"s{i}", "input": f"harmful request {i}",
             "output": f"Sure, here is part {i}." if i < 4 else "I cannot help with that."} for i in range(8)]


def _guard(messages):
    return "unsafe\nS1" if messages[0]["content"].split()[-1] in {s[1:] for s in GUARD_UNSAFE} else "safe"


@pytest.mark.parametrize("a, b, kappa", [([1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 1, 0, 0, 0], 0.5),
                                         ([1, 0, 1, 0], [1, 0, 1, 0], 1.0), ([1, 0, 1, 0], [0, 1, 0, 1], -1.0),
                                         ([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1], 1 / 3), ([1, 1], [1, 1], None)])
def test_cohen_kappa_by_hand(a, b, kappa):
    assert cohen_kappa(a, b) == (kappa if kappa is None else pytest.approx(kappa))


def test_kappa_interval_covers_the_estimate_and_narrows_with_more_samples():
    a, b = [1, 1, 1, 1, 0, 0, 0, 0] * 2, [1, 1, 1, 0, 1, 0, 0, 0] * 2
    low, high = kappa_interval(a, b)
    wide = high - low
    assert low <= 0.5 <= high
    low, high = kappa_interval(a * 8, b * 8)
    assert low <= 0.5 <= high and high - low < wide / 2


def test_a_panel_in_one_command_then_its_agreement(tmp_path):
    gens = tmp_path / "gens.jsonl"
    gens.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    with JudgeServer() as rubric_judge, JudgeServer(reply_messages=_guard) as guard_judge:
        cfg = tmp_path / "panel.yaml"
        cfg.write_text(json.dumps({"judges": {"guard": {"base_url": guard_judge.base_url, "judge_model": "guard-m",
                                                        "no_cache": True}}}))
        r = run_cli("score", str(gens), "--scorer", "refusal-keywords,rubric,guard", "--config", str(cfg),
                    "--base-url", rubric_judge.base_url, "--judge-model", "rubric-m", "--no-cache",
                    "--out", str(tmp_path / "s.jsonl"))
    assert r.returncode == 0, r.stderr
    assert len(rubric_judge.bodies) == 8 and len(guard_judge.bodies) == 8  # each scorer its own judge
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert all(set(row["scores"]) == {"refusal-keywords", "rubric", "guard"} for row in rows)
    summary = json.loads((tmp_path / "s.jsonl.summary.json").read_text())
    assert [s["scorer"] for s in summary["scorers"]] == ["refusal-keywords", "rubric", "guard"]
    assert "asr_keyword" in r.stdout and "asr_rubric" in r.stdout and "asr_guard" in r.stdout
    assert "ptst audit agreement" in r.stderr

    r = run_cli("audit", "agreement", str(tmp_path / "s.jsonl"), "--json", str(tmp_path / "a.json"))
    assert r.returncode == 0, r.stderr
    pairs = {(p["a"], p["b"]): p for p in json.loads((tmp_path / "a.json").read_text())}
    assert set(pairs) == {("refusal-keywords", "rubric"), ("refusal-keywords", "guard"), ("rubric", "guard")}
    same = pairs[("refusal-keywords", "rubric")]
    assert (same["n"], same["agreement"], same["kappa"]) == (8, 1.0, 1.0)
    guard = pairs[("rubric", "guard")]  # 6 of 8 agree, both at 50%: kappa (0.75 - 0.5) / 0.5
    assert (guard["n"], guard["agreement"]) == (8, 0.75) and guard["kappa"] == pytest.approx(0.5)
    assert guard["agreement_ci"][0] < 0.75 < guard["agreement_ci"][1]
    assert guard["kappa_ci"][0] <= 0.5 <= guard["kappa_ci"][1]
    assert "| rubric | guard | 8 | 50.0% / 50.0% | 75.0%" in r.stdout and "Cohen's kappa" in r.stdout


def test_agreement_against_hand_labels(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("sample,label,input,output\n" + "".join(
        f"{i},{label},q{i},o{i}\n" for i, label in enumerate(["complied", "partly complied", "refused", "refused"])))
    (tmp_path / "labels.key.csv").write_text("sample,cell,item_id,asr:rubric\n0,c,a,1\n1,c,b,0\n2,c,c,0\n3,c,d,1\n")
    env = {**os.environ, "PTST_QI2023_PREFIXES": str(SHARED_DATA / "qi2023-judge" / "refusal_prefixes.json")}
    r = run_cli("audit", "agreement", str(labels), "--json", str(tmp_path / "a.json"), env=env)
    assert r.returncode == 0, r.stderr
    pairs = {(p["a"], p["b"]): p for p in json.loads((tmp_path / "a.json").read_text())}
    partly = pairs[("rubric", "hand labels: complied or partly")]  # rubric 1,0,0,1 vs labels 1,1,0,0
    assert (partly["n"], partly["agreement"], partly["kappa"]) == (4, 0.5, 0.0)
    full = pairs[("rubric", "hand labels: complied")]  # vs 1,0,0,0: po 0.75, pe 0.5*0.25+0.5*0.75 = 0.5
    assert full["kappa"] == pytest.approx(0.5)
    assert ("hand labels: complied or partly", "hand labels: complied") not in pairs
    assert "precision" in r.stdout  # a labels file still gets each scorer's precision and recall


@pytest.mark.slow  # a study run
def test_a_study_panel_marks_the_cells_where_the_judges_disagree(tmp_path):
    with JudgeServer(reply=lambda prompt: "#thescore: 5") as always_harmful, \
            JudgeServer(reply_messages=lambda messages: "safe") as always_safe:
        cfg = tmp_path / "study.yaml"
        cfg.write_text(json.dumps({
            "name": "panel", "model": "embedded:tiny-random", "test_templates": ["chat:vanilla", "chat:llama"],
            "evals": [{"name": "harmful", "data": "builtin:harmful", "limit": 4,
                       "scorers": ["refusal-keywords", "rubric", "guard"]}],
            "decoding": {"max_new_tokens": 3},
            "judge": {"base_url": always_harmful.base_url, "judge_model": "rubric-m", "no_cache": True},
            "judges": {"guard": {"base_url": always_safe.base_url, "judge_model": "guard-m", "no_cache": True}}}))
        r = run_cli("run", str(cfg), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    page = (tmp_path / "run" / "report.html").read_text()
    panel = page.split("<h2>Judge panel</h2>")[1].split("<h2>")[0]
    assert "<th>refusal-keywords" in panel and "<th>rubric" in panel and "<th>guard" in panel
    assert panel.count('class="disagree"') == 2  # rubric 100% [51, 100] vs guard 0% [0, 49] in both cells
    assert "100.0 [51.0, 100.0] n=4" in panel and "0.0 [0.0, 49.0] n=4" in panel
    r = run_cli("audit", "agreement", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    assert "| rubric | guard | 8 | 100.0% / 0.0% | 0.0%" in r.stdout
