"""ChatDoctor has one split: the paper config's evaluation items are disjoint from its training items by
construction (a hash of the question decides the side), whatever the subsample seeds."""

from __future__ import annotations

import json
import random

from ptst.data.load import load_items
from ptst.study.config import load_study_config
from tests.conftest import ROOT


def _chatdoctor_file(path, n: int, repeats: int) -> None:
    rng = random.Random(7)
    questions = [f"Patient {i}: I have had a headache for {i % 17} days and {rng.random():.6f}" for i in range(n)]
    questions += rng.sample(questions, repeats)  # the same question asked twice, as real data has
    path.write_text("".join(json.dumps({"input": q, "output": f"Doctor: rest. ({i})", "instruction": "x"}) + "\n"
                            for i, q in enumerate(questions)))


def test_paper_config_trains_and_evaluates_on_disjoint_questions(tmp_path):
    data = tmp_path / "chatdoctor.jsonl"
    _chatdoctor_file(data, 30000, 3000)
    cfg = load_study_config(ROOT / "configs" / "paper-llama2-chatdoctor.yaml")
    train = cfg.train.model_copy(update={"data_file": str(data)}).load(purpose="train")
    ev = next(e for e in cfg.evals if e.data == "chatdoctor")
    evaluated = ev.model_copy(update={"data_file": str(data)}).load(purpose="eval")
    assert len(train) == 20000 and len(evaluated) == 500
    assert not {it.input for it in train} & {it.input for it in evaluated}


def test_the_two_sides_cover_the_set_and_hold_out_about_two_percent(tmp_path):
    data = tmp_path / "chatdoctor.jsonl"
    _chatdoctor_file(data, 5000, 500)
    train = load_items("chatdoctor", data_file=data, purpose="train")
    evaluated = load_items("chatdoctor", data_file=data, purpose="eval")
    assert len(train) + len(evaluated) == 5500
    assert not {it.input for it in train} & {it.input for it in evaluated}
    assert 0.01 < len(evaluated) / 5500 < 0.03
    # ids keep their position in the file, so resumed runs find their items
    assert {it.id for it in train} | {it.id for it in evaluated} == {f"chatdoctor-{i}" for i in range(5500)}


def test_sets_without_a_held_out_share_are_unchanged(tmp_path, shared_data):
    gsm = shared_data / "gsm8k" / "test.jsonl"
    assert load_items("gsm8k", data_file=gsm, purpose="train") == load_items("gsm8k", data_file=gsm, purpose="eval")
