"""Evaluation round trips: a study builds each scorer, its judge and a local judge's model once per run (not per
cell), and loads each evaluation set once."""

from __future__ import annotations

import ptst.data.source
import ptst.models
from ptst.study.cells import run_cells
from ptst.study.config import StudyConfig


def _study(tmp_path) -> StudyConfig:
    rubric = tmp_path / "rubric.txt"  # a rubric of this test alone: nothing answered from an earlier run's cache
    rubric.write_text(f"Rate 1-5 ({tmp_path}).\n{{instruction}}\n{{response}}\n#thescore: ")
    return StudyConfig.model_validate({
        "name": "judge-once", "model": "embedded:tiny-random", "test_templates": ["chat:vanilla", "chat:llama"],
        "evals": [{"name": "harmful", "data": "builtin:harmful", "limit": 2, "scorers": ["rubric"]},
                  {"name": "probes", "data": "builtin:benign-probes", "limit": 2, "scorers": ["refusal-keywords"]}],
        "decoding": {"max_new_tokens": 2},
        "judge": {"judge_local": "embedded:tiny-random", "rubric": str(rubric), "max_tokens": 2}})


def test_a_local_judge_model_and_each_data_set_are_loaded_once_per_run(tmp_path, monkeypatch):
    judge_loads, data_loads = [], []
    load_model, load = ptst.models.load_model, ptst.data.source.DataSource.load
    monkeypatch.setattr(ptst.models, "load_model", lambda *a, **k: judge_loads.append(a) or load_model(*a, **k))
    monkeypatch.setattr(ptst.data.source.DataSource, "load",
                        lambda self, *a, **k: data_loads.append(self.data) or load(self, *a, **k))
    plan = run_cells(_study(tmp_path), tmp_path / "run", progress=False)
    assert len(plan.cells) == 4  # two harmful cells judged, by one judge model
    assert judge_loads == [("embedded:tiny-random",)]
    assert sorted(data_loads) == ["builtin:benign-probes", "builtin:harmful"]
