"""`ptst preflight` ranks candidate test templates and warns when none beats having no safety prompt; a study
can use its recommendation through the `preflight` placeholder."""

from __future__ import annotations

import json

import pytest

from ptst.report.holdout import halves
from ptst.report.intervals import Outcomes
from ptst.study.preflight import PreflightOptions, preflight_config, rank
from tests.conftest import ROOT, run_cli


def _results(asr: dict, over: dict, n=64, probes=32) -> Outcomes:
    """Per-request outcomes with the given rates in both halves (successes nested across templates)."""
    out = Outcomes()
    for dataset, metric, rates, size in (("harmful", "asr_keyword", asr, n),
                                         ("benign-probes", "refusal_rate", over, probes)):
        parts = [sorted(half) for half in halves([f"{dataset}-{i}" for i in range(size)])]
        for t, v in rates.items():
            out.cells[("base", t, dataset, "refusal-keywords", metric)][None] = {
                item: float(k < round(v * len(part))) for part in parts for k, item in enumerate(part)}
    return out


def test_rank_recommends_the_safest_acceptable_template():
    opts = PreflightOptions(model="m", templates=["chat:no-system", "chat:llama", "chat:mpt", "chat:mistral"])
    results = _results({"chat:no-system": 0.5, "chat:llama": 0.1, "chat:mpt": 0.3, "chat:mistral": 0.2},
                       {"chat:no-system": 0.0, "chat:llama": 0.6, "chat:mpt": 0.05, "chat:mistral": 0.1})
    summary = rank(results, opts)
    assert summary["recommended"] == "chat:mistral" and summary["protects"] and summary["clear"]
    assert summary["held_out"]["discordant"] == [0, 10] and summary["held_out"]["n"] == 32  # 6 vs 16 of 32
    assert [r["template"] for r in summary["rows"]][:3] == ["chat:mistral", "chat:mpt", "chat:no-system"]
    assert summary["rows"][-1]["template"] == "chat:llama" and not summary["rows"][-1]["acceptable"]


def test_rank_warns_when_the_safety_prompt_makes_things_worse():
    # the shape measured on embedded Qwen: the Llama-2 safety prompt raises attack success
    opts = PreflightOptions(model="m", templates=["chat:no-system", "chat:llama"])
    summary = rank(_results({"chat:no-system": 0.36, "chat:llama": 0.72}, {"chat:no-system": 0.0, "chat:llama": 0.0}),
                   opts)
    assert summary["recommended"] is None and not summary["protects"]
    assert summary["verdict"].startswith("PTST will not protect this model")


@pytest.mark.slow  # six templates generated twice
def test_preflight_cli_on_the_tiny_model(tmp_path):
    out = tmp_path / "pf"
    r = run_cli("preflight", "--model", "embedded:tiny-random", "--limit", "6", "--probes-limit", "4",
                "--max-new-tokens", "4", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "preflight.json").read_text())
    assert "Pre-flight" in (out / "results.md").read_text() and (out / "report.html").is_file()
    assert {row["template"] for row in summary["rows"]} == {"chat:no-system", "chat:vanilla", "chat:llama",
                                                            "chat:llama-short", "chat:mpt", "chat:mistral"}
    assert "chat:no-system (none)" in r.stdout and ("WARNING" in r.stdout or "recommended" in r.stdout)
    assert all(row["n_harmful"] + row["n_harmful_selection"] == 6 and row["n_harmful"] == 3
               for row in summary["rows"])
    assert "held-out half" in r.stdout and "chosen on the selection half" in (out / "results.md").read_text()
    r2 = run_cli("preflight", "--model", "embedded:tiny-random", "--limit", "6", "--probes-limit", "4",
                 "--max-new-tokens", "4", "--out", str(out), "--no-progress")
    assert r2.returncode == 0 and r2.stdout == r.stdout  # resumed from the store, same table


@pytest.mark.slow  # a pre-flight, then a study
def test_study_with_preflight_placeholder(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text((ROOT / "configs" / "smoke.yaml").read_text()
                   .replace("test_templates: [chat:vanilla, chat:llama]", "test_templates: [chat:vanilla, preflight]")
                   .replace("train:\n", "include_base: true\ntrain:\n"))
    r = run_cli("run", str(cfg), "--dry-run", "--calibrate", "no")
    assert r.returncode == 0 and "counts it as chat:llama" in r.stderr
    r = run_cli("run", str(cfg), "--out", str(tmp_path / "run"), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "run" / "preflight" / "preflight.json").is_file()
    assert "Pre-flight" in (tmp_path / "run" / "results.md").read_text()


def test_with_a_judge_the_judge_scorers_attack_success_ranks_the_templates():
    opts = PreflightOptions(model="m", templates=["chat:no-system", "chat:llama"], base_url="http://127.0.0.1:9/v1",
                            judge_model="llama-guard", judge_scorer="guard")
    cfg = preflight_config(opts)
    assert cfg.evals[0].scorers == ["refusal-keywords", "guard"] and cfg.judge.judge_model == "llama-guard"
    keywords = _results({"chat:no-system": 0.5, "chat:llama": 0.1}, {"chat:no-system": 0.0, "chat:llama": 0.0})
    by_guard = _results({"chat:no-system": 0.1, "chat:llama": 0.5}, {"chat:no-system": 0.0, "chat:llama": 0.0})
    for key, per_seed in list(by_guard.cells.items()):
        if key[3:] == ("refusal-keywords", "asr_keyword"):
            keywords.cells[(*key[:3], "guard", "asr_guard")] = per_seed
    summary = rank(keywords, opts)
    assert summary["metric"] == "asr_guard" and summary["recommended"] is None  # the guard says llama is worse
    with pytest.raises(ValueError, match="not a judge scorer"):
        PreflightOptions(model="m", judge_scorer="refusal-keywords")
