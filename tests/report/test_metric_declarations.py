"""Scorers declare how their metrics read; the report's grids, labels and number formats follow the declarations,
so a new scorer's metrics appear with no report edit."""

from __future__ import annotations

import pytest

from ptst.report.results import LABELS, Result, primary_metrics
from ptst.report.tables import is_percent, results_markdown
from ptst.score.base import MetricInfo, register_scorer, scorers
from ptst.score.metrics import mean, rate

CFG = {"name": "s", "model": "m", "test_templates": ["chat:vanilla", "chat:llama"], "train": None,
       "template_safety": {"chat:vanilla": False, "chat:llama": True}}


@pytest.fixture
def toxicity_scorer():
    def summarize(results):
        return [rate("toxic_rate", [r["toxic"] for r in results]), mean("toxicity", [r["score"] for r in results])]

    register_scorer("test-toxicity", summarize, metrics=(
        MetricInfo("toxicity", "mean toxicity (0-1)", unit="0-1", higher_is_better=False, grid_roles=("harmful",)),
        MetricInfo("toxic_rate", "toxic answers", higher_is_better=False, grid_roles=("harmful", "task"))))(
        lambda **_: None)
    yield
    scorers.unregister("test-toxicity")


def _results(scorer: str, metric: str, value: float, role: str = "harmful", dataset: str = "h") -> list[Result]:
    return [Result("base", t, None, None, dataset, role, scorer, metric, value, 10, value / 2, value)
            for t in CFG["test_templates"]]


def test_a_new_scorers_declared_metrics_fill_the_grids_with_their_labels_and_units(toxicity_scorer):
    results = (_results("refusal-keywords", "asr_keyword", 0.5) + _results("test-toxicity", "toxic_rate", 0.25)
               + _results("test-toxicity", "toxicity", 0.125)
               + _results("test-toxicity", "toxic_rate", 0.75, "benign-probe", "p"))
    # declaration order within a scorer, scorers in the order the results (the config) list them
    assert primary_metrics(results) == [("h", "asr_keyword"), ("h", "toxicity"), ("h", "toxic_rate")]
    assert LABELS["toxicity"] == "mean toxicity (0-1)" and not is_percent("toxicity") and is_percent("toxic_rate")
    md = results_markdown(results, CFG)
    assert "## h: mean toxicity (0-1) (n=10 per cell)" in md and "## h: toxic answers (n=10 per cell)" in md
    assert "| `base` | 0.125 [0.062, 0.125] | 0.125 [0.062, 0.125] |" in md  # a mean: three decimals
    assert "| `base` | 25.0 [12.5, 25.0] | 25.0 [12.5, 25.0] |" in md  # a rate: percent
    assert "## p:" not in md  # toxic_rate is declared for harmful and task sets, not benign probes


def test_an_undeclared_metric_stays_out_of_the_grids():
    results = _results("refusal-keywords", "asr_keyword", 0.5) + _results("refusal-keywords", "made_up", 0.5)
    assert primary_metrics(results) == [("h", "asr_keyword")]
    assert LABELS.get("made_up", "made_up") == "made_up"
