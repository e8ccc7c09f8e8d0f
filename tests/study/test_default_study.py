"""The default study (`ptst run` with no config) measures helpfulness beside safety, on math problems its
training never saw."""

from __future__ import annotations

from importlib import resources

from ptst.data import get_dataset, load_items
from ptst.data.builtin.math import problem_key
from ptst.study.config import load_study_config


def _default():
    return load_study_config(resources.files("ptst.study").joinpath("default.yaml"))


def test_the_default_study_scores_math_on_items_disjoint_from_its_training_items():
    cfg = _default()
    train = cfg.train.load("train")
    assert len(train) == 160 and {i.id for i in train} <= {i.id for i in load_items("builtin:math")}
    tasks = [e for e in cfg.evals if get_dataset(e.data).role == "task"]
    assert len(tasks) == 1
    math = tasks[0]
    assert math.scorers == ["gsm8k", "truncation"]
    items = math.load("eval")
    assert 40 <= len(items) <= 50
    assert not {i.input for i in items} & {i.input for i in train}
    assert not {problem_key(i.category, i.input) for i in items} & {problem_key(i.category, i.input) for i in train}
    # long enough for a worked answer (the study's own 32 tokens are for refusals)
    assert math.max_new_tokens >= 4 * cfg.decoding.max_new_tokens
