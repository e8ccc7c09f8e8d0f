"""Identities are what resume and caching trust: the smoke study's training runs, variants (checkpoints included)
and cells keep the identities that ptst computed before their code was reorganised (values captured from commit
56929ac, whose run directories must go on resuming)."""

from __future__ import annotations

from ptst.store.run_dir import RunDir
from ptst.store.study_store import StudyStore
from ptst.study import build_plan, load_study_config
from ptst.study.plan import cells_for
from ptst.study.training import adapter_path, checkpoint_variants
from tests.conftest import ROOT

SMOKE = ROOT / "configs" / "smoke.yaml"

TRAININGS = ["5257e0ef18f7", "903708506630"]
VARIANTS = ["base", "67baa98c069e", "5c2f8caf727d"]
CELLS = ["0737c03c46cd", "2ce486019d51", "76b3e134cccd", "8385e4f7a2b6", "73438d0ae3e8", "15a96b42a9a9",
         "760bd2bbf74e", "f48beb305a7d", "d8412bb4d48f", "d91c553d4c26", "2447545a7a94", "3c35dbee8c50",
         "4f55f287682d", "589851ba7ba9", "c23e7e9bdc1e", "f7ceb7c3b1bf", "5f84c0e045a0", "e65cc34a8f55"]
DIRNAMES = ["chat-vanilla-seed0-5257e0ef", "chat-llama-seed0-90370850"]
# the smoke study with `dtype: float32` (what `auto` resolves to on a machine without a bf16 unit)
FLOAT32_CELLS = ["18d183dca000", "95d9c0280d0a", "d4f98d54e036", "70624d8595a7", "a6723b6390e7", "905f003a1693",
                 "8d36ff866cfd", "c2fba519319a", "c990043a715a", "5331f22b3b92", "49d92747b0b6", "cb04b1d01e74",
                 "0287b476ec30", "579294eaa792", "fcb255072959", "bd70b2276284", "22ba49746353", "c931ae08fe14"]

# the smoke study with `train.eval_every_steps: 2`, checkpoints at steps 2 and 4
CHECKPOINTED_TRAININGS = ["8fa18b8e3366", "f25e5273dfcd"]
CHECKPOINTED_VARIANTS = ["base", "ce9d108a63af", "84262bf35d01"]
CHECKPOINTS = {
    "8fa18b8e3366": {
        "variants": [("e300b1bc21b8", 2, "chat:vanilla"), ("b8570d2e4016", 4, "chat:vanilla")],
        "cells": ["d49d4c56f7f5", "9a5ba6283495", "7aedaf6234eb", "d7b10d05573c", "800bfcc412dd", "4cc8efbb9612",
                  "069b27b86e8c", "7226995613bb", "c1d19adb81bc", "b442a509fc4e", "79556d6dd5d7", "4e6069da33d1"],
        "adapters": ["train/chat-vanilla-seed0-8fa18b8e/checkpoint-2",
                     "train/chat-vanilla-seed0-8fa18b8e/checkpoint-4"],
    },
    "f25e5273dfcd": {
        "variants": [("c8328bf3fb18", 2, "chat:llama"), ("265ca18ad684", 4, "chat:llama")],
        "cells": ["74737c74c54a", "228ac86d1da6", "58217403f2ae", "2e4c62ee3ae3", "b6326c3bc6f0", "77f352eb7798",
                  "4e0d27ca6b0b", "7bcd87d9b429", "ab8f121ab0bf", "8302d8e1fd88", "57bd6a99e6b9", "708c7ff2290e"],
        "adapters": ["train/chat-llama-seed0-f25e5273/checkpoint-2",
                     "train/chat-llama-seed0-f25e5273/checkpoint-4"],
    },
}


def test_the_smoke_study_keeps_its_identities():
    plan = build_plan(load_study_config(SMOKE))
    assert [t.id for t in plan.trainings] == TRAININGS
    assert [t.dirname for t in plan.trainings] == DIRNAMES
    assert [v.id for v in plan.variants] == VARIANTS
    assert [c.id for c in plan.cells] == CELLS
    plan = build_plan(load_study_config(SMOKE, {"dtype": "float32"}))
    assert [t.id for t in plan.trainings] == TRAININGS and [v.id for v in plan.variants] == VARIANTS
    assert [c.id for c in plan.cells] == FLOAT32_CELLS


def test_checkpoint_variants_keep_their_identities(tmp_path):
    """Checkpoints are found on disk after training; their variants, cells and adapter paths are the ones made
    before, so a resumed run finds their samples in the store."""
    cfg = load_study_config(SMOKE)
    cfg = load_study_config(SMOKE, {"train": {**cfg.train.model_dump(), "eval_every_steps": 2}})
    plan = build_plan(cfg)
    assert [t.id for t in plan.trainings] == CHECKPOINTED_TRAININGS
    assert [v.id for v in plan.variants] == CHECKPOINTED_VARIANTS
    store = StudyStore(tmp_path)
    for run in plan.trainings:
        for step in (4, 2):
            (tmp_path / "train" / run.dirname / f"checkpoint-{step}").mkdir(parents=True)
        found = checkpoint_variants(store, RunDir(tmp_path), run)
        adapters = [adapter_path(RunDir(tmp_path), v) for v in found]
        expected = CHECKPOINTS[run.id]
        assert [(v.id, v.step, v.label) for v in found] == expected["variants"]
        assert [c.id for v in found for c in cells_for(cfg, v, plan.templates)] == expected["cells"]
        assert adapters == [str(tmp_path / a) for a in expected["adapters"]]
    store.close()
