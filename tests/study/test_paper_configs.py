"""The paper configs as the paper ran them: the authors' prompt strings for Mistral, all 2,483 safety pairs mixed
in, Figure 3's test templates, Qi et al.'s judge and keyword list, and a stated dtype."""

from __future__ import annotations

import pytest

from ptst.study.config import load_study_config
from ptst.templates import get_template, render_prompt
from ptst.templates.builtin import MISTRAL
from tests.conftest import ROOT, run_cli

PAPER_CONFIGS = sorted((ROOT / "configs").glob("paper-*.yaml"))
Q = "What is 12 * 7?"


def test_mistral_gets_the_authors_inst_sys_strings():
    cfg = load_study_config(ROOT / "configs" / "paper-mistral-gsm8k.yaml")
    rendered = render_prompt(get_template("chat:mistral"), Q, markup=cfg.markup, system_policy=cfg.system_policy)
    # prompt_utils.py of vfleaking/PTST: B_INST + " " + B_SYS + system + E_SYS + "Question: %s" + " " + E_INST
    assert rendered.text == "[INST] " + "<<SYS>>\n" + MISTRAL + "\n<</SYS>>\n\n" + f"Question: {Q}" + " [/INST]"
    assert rendered.add_special_tokens  # BOS from the tokenizer, as theirs


def test_gsm8k_grid_tests_with_figure_3s_templates():
    cfg = load_study_config(ROOT / "configs" / "paper-llama2-gsm8k.yaml")
    assert {"chat:llama-short", "chat:mpt"} <= set(cfg.test_templates)


@pytest.mark.parametrize("config", PAPER_CONFIGS, ids=lambda p: p.name)
def test_paper_configs_judge_like_the_paper_and_state_their_dtype(config):
    cfg = load_study_config(config)
    assert cfg.judge.rubric == "qi2023" and cfg.judge.max_tokens is None  # the rubric's own 4096
    for ev in cfg.evals:
        if "rubric" in ev.scorers:
            assert {"refusal-keywords", "refusal-keywords-qi2023"} <= set(ev.scorers)
    text = config.read_text()
    assert cfg.dtype != "auto" and f"dtype: {cfg.dtype}" in text and "# dtype:" in text


def test_safety_mixing_uses_all_2483_pairs(tmp_path, shared_data):
    cfg = load_study_config(ROOT / "configs" / "paper-llama2-safety-mix.yaml")
    r = run_cli("train", "--model", "embedded:tiny-random", "--data", "gsm8k", "--data-file",
                str(shared_data / "gsm8k" / "test.jsonl"), "--mix", cfg.train.mix, "--mix-file",
                str(shared_data / "safety-tuned-llamas" / "safety_only_data_Instructions.json"),
                "--template", "chat:vanilla", "--out", str(tmp_path / "t"), "--dry-run")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"of {1319 + 2483} examples" in r.stdout + r.stderr
