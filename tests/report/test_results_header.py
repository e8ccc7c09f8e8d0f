"""results.md says how many seeds its cells cover from the results it holds, not from the config: a merge of some
shards of a 3-seed study holds one seed, and its cells are single values with request-level intervals."""

from __future__ import annotations

from ptst.report.results import Result
from ptst.report.tables import results_markdown


def _result(seed: int | None, train: str = "chat:vanilla") -> Result:
    return Result(train, "chat:llama", seed, None, "harmful", "harmful", "refusal-keywords", "asr_keyword", 0.5, 104,
                  0.4, 0.6, "requests (Wilson 95%)")


CONFIG = {"name": "default", "model": "m", "test_templates": ["chat:llama"],
          "train": {"templates": ["chat:vanilla"], "seeds": [0, 1, 2]}}


def test_a_run_holding_one_seed_of_a_three_seed_study_says_one_seed():
    md = results_markdown([_result(None, "base"), _result(0)], CONFIG)
    assert "One seed: cells show the value and its 95% interval." in md and "over 3 seeds" not in md


def test_a_run_holding_two_seeds_says_two():
    md = results_markdown([_result(None, "base"), _result(0), _result(1)], CONFIG)
    assert "Cells: mean ± std over 2 seeds" in md
