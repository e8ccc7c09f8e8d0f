"""Evaluation round trips: a study builds each scorer, its judge and a local judge's model once per run (not per
cell), and loads each evaluation set once."""

from __future__ import annotations

from collections import Counter

import ptst.data.source
import ptst.models
from ptst.study.config import StudyConfig
from ptst.study.run_cells import run_cells


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


class PooledTailEngine:
    """A per-request-adapter engine for tests: answers with the prompt's last three tokens, records each call."""

    name, description, per_request_adapters = "test-pooled", "test engine", True
    calls: list = []

    def check(self):
        return None

    def load(self, model, *, adapter=None, dtype="auto", device="auto", trust_remote_code=False):
        from ptst.models.load import LoadedModel, load_tokenizer

        return LoadedModel(None, load_tokenizer(model), model, model, adapter, "float32", "cpu")

    def generate(self, loaded, prompt_ids, decoding, *, adapters=None, batch_size=None, done=lambda i: False,
                 on_token=None):
        from ptst.models.engines import Generation

        self.calls.append(list(adapters))
        yield [Generation(i, loaded.tokenizer.decode(prompt_ids[i][-3:]), "stop", len(prompt_ids[i]), 3)
               for i in range(len(prompt_ids)) if not done(i)]


def test_an_engine_with_per_request_adapters_takes_every_variant_in_one_call(tmp_path):
    import sqlite3

    from ptst.models.engines import engines
    from ptst.study.runner import run_study

    PooledTailEngine.calls.clear()
    engines.add_class(PooledTailEngine)
    try:
        cfg = StudyConfig.model_validate({
            "name": "pooled", "model": "embedded:tiny-random", "engine": "test-pooled",
            "train": {"data": "builtin:math", "limit": 4, "templates": ["chat:vanilla"],
                      "hyper": {"lora_r": 2, "lora_alpha": 4, "max_steps": 1, "batch_size": 4, "max_length": 128}},
            "test_templates": ["chat:llama"], "evals": [{"name": "h", "data": "builtin:harmful", "limit": 3,
                                                         "scorers": ["refusal-keywords"]}],
            "decoding": {"max_new_tokens": 2}})
        run_study(cfg, tmp_path / "run", progress=False)
    finally:
        engines.unregister("test-pooled")
    [adapters] = PooledTailEngine.calls  # one engine call for the base model and the fine-tuned one
    trained = str(tmp_path / "run" / "train" / next((tmp_path / "run" / "train").iterdir()).name)
    assert Counter(adapters) == {None: 3, trained: 3}
    db = sqlite3.connect(tmp_path / "run" / "store.sqlite")
    rows = db.execute("SELECT json_extract(row, '$.adapter'), json_extract(row, '$.engine') FROM samples").fetchall()
    assert Counter(rows) == {(None, "test-pooled"): 3, (trained, "test-pooled"): 3}
    assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 6
