"""Identities are what resume and caching trust: the smoke study's training runs, variants (checkpoints included)
and cells keep the identities ptst computed before its code was reorganised (issue 28), so run directories made
before go on resuming. The values were captured from main at e252ae7 (float32's also equal 56929ac's), for the two
types `dtype: auto` resolves to: float32, and bfloat16 on a machine with a bf16 unit."""

from __future__ import annotations

import pytest

from ptst.store.run_dir import RunDir
from ptst.store.study_store import StudyStore
from ptst.study import build_plan, load_study_config
from ptst.study.plan import cells_for
from ptst.study.training import adapter_path, checkpoint_variants
from tests.conftest import ROOT

SMOKE = ROOT / "configs" / "smoke.yaml"

# per dtype; "checkpointed": the smoke study with `train.eval_every_steps: 2`, checkpoints at steps 2 and 4
EXPECTED = {
    "float32": {
        "trainings": ["5257e0ef18f7", "903708506630"],
        "dirnames": ["chat-vanilla-seed0-5257e0ef", "chat-llama-seed0-90370850"],
        "variants": ["base", "67baa98c069e", "5c2f8caf727d"],
        "cells": ["18d183dca000", "95d9c0280d0a", "d4f98d54e036", "70624d8595a7", "a6723b6390e7", "905f003a1693",
                  "8d36ff866cfd", "c2fba519319a", "c990043a715a", "5331f22b3b92", "49d92747b0b6", "cb04b1d01e74",
                  "0287b476ec30", "579294eaa792", "fcb255072959", "bd70b2276284", "22ba49746353", "c931ae08fe14"],
        "checkpointed_trainings": ["8fa18b8e3366", "f25e5273dfcd"],
        "checkpointed_variants": ["base", "ce9d108a63af", "84262bf35d01"],
        "checkpoints": {
            "8fa18b8e3366": {
                "variants": [("e300b1bc21b8", 2, "chat:vanilla"), ("b8570d2e4016", 4, "chat:vanilla")],
                "cells": ["18d73f309969", "59db075420b8", "50d2f2824867", "477d97f34a81", "3dfb94fa6214",
                          "02e12e075540", "72b7e3cd8e69", "a573f657adfd", "0495021188ff", "f3c0b23a64bc",
                          "c7fb84514acd", "3d8432a2ebda"],
                "adapters": ["train/chat-vanilla-seed0-8fa18b8e/checkpoint-2",
                             "train/chat-vanilla-seed0-8fa18b8e/checkpoint-4"],
            },
            "f25e5273dfcd": {
                "variants": [("c8328bf3fb18", 2, "chat:llama"), ("265ca18ad684", 4, "chat:llama")],
                "cells": ["35e56961975b", "c51c22a24cb3", "140d6829482e", "38c95a83d01d", "cedb244d3623",
                          "5f2670e77c0c", "5427737fec13", "29feec40307e", "c24d61b5f505", "9975c753903e",
                          "4a7aecb2f484", "e135103cd7de"],
                "adapters": ["train/chat-llama-seed0-f25e5273/checkpoint-2",
                             "train/chat-llama-seed0-f25e5273/checkpoint-4"],
            },
        },
    },
    "bfloat16": {
        "trainings": ["7d4325b9cb59", "6397d2308781"],
        "dirnames": ["chat-vanilla-seed0-7d4325b9", "chat-llama-seed0-6397d230"],
        "variants": ["base", "589fa16f09de", "1b581f03ae0b"],
        "cells": ["4c97bcbbae9e", "9ffe205f550e", "4a4de084d19e", "6ff32886cb96", "971d286c1684", "fb05f673e9fd",
                  "23095ed1243c", "806b92328eff", "2f7a317d2b9b", "ebb4bfa655ac", "6d0a39d25cff", "bd1c2dcdfab7",
                  "87f010f4bf72", "17984be4e14f", "df4b91e11895", "c235a3799d5a", "b637fe67dff6", "7992f7d62e4c"],
        "checkpointed_trainings": ["9e428d691d30", "a1d9b1eaa85f"],
        "checkpointed_variants": ["base", "2fdf02ceed6c", "1362789041aa"],
        "checkpoints": {
            "9e428d691d30": {
                "variants": [("4fb1d1e678b8", 2, "chat:vanilla"), ("0589cb950807", 4, "chat:vanilla")],
                "cells": ["09cc714e095c", "56c322e404ae", "49eb5ff378bb", "8eece7da89a9", "4ceedccdee17",
                          "97906fcb2634", "832fd4f1c2af", "050c57d242eb", "5d3900db184b", "95d1bb356c59",
                          "c99e8fab9b07", "258fa321f5e0"],
                "adapters": ["train/chat-vanilla-seed0-9e428d69/checkpoint-2",
                             "train/chat-vanilla-seed0-9e428d69/checkpoint-4"],
            },
            "a1d9b1eaa85f": {
                "variants": [("fe47caf90585", 2, "chat:llama"), ("aca39d8930ed", 4, "chat:llama")],
                "cells": ["ce0b846fdfc4", "9b2f8ff52dfd", "8a04fc664da4", "5e40b533943b", "aed5e9f422b3",
                          "2aa65f8fd864", "06507f4ce5d2", "3c5149dfa4ed", "b5aecab46ea7", "76ac86cc6c97",
                          "a31a166662fd", "5149a860fad8"],
                "adapters": ["train/chat-llama-seed0-a1d9b1ea/checkpoint-2",
                             "train/chat-llama-seed0-a1d9b1ea/checkpoint-4"],
            },
        },
    },
}


@pytest.mark.parametrize("dtype", EXPECTED)
def test_the_smoke_study_keeps_its_identities(dtype):
    expected = EXPECTED[dtype]
    plan = build_plan(load_study_config(SMOKE, {"dtype": dtype}))
    assert [t.id for t in plan.trainings] == expected["trainings"]
    assert [t.dirname for t in plan.trainings] == expected["dirnames"]
    assert [v.id for v in plan.variants] == expected["variants"]
    assert [c.id for c in plan.cells] == expected["cells"]


@pytest.mark.parametrize("dtype", EXPECTED)
def test_checkpoint_variants_keep_their_identities(tmp_path, dtype):
    """Checkpoints are found on disk after training; their variants, cells and adapter paths are the ones made
    before, so a resumed run finds their samples in the store."""
    expected = EXPECTED[dtype]
    cfg = load_study_config(SMOKE)
    cfg = load_study_config(SMOKE, {"dtype": dtype, "train": {**cfg.train.model_dump(), "eval_every_steps": 2}})
    plan = build_plan(cfg)
    assert [t.id for t in plan.trainings] == expected["checkpointed_trainings"]
    assert [v.id for v in plan.variants] == expected["checkpointed_variants"]
    store, run_dir = StudyStore(tmp_path), RunDir(tmp_path)
    for run in plan.trainings:
        for step in (4, 2):
            (tmp_path / "train" / run.dirname / f"checkpoint-{step}").mkdir(parents=True)
        found = checkpoint_variants(store, run_dir, run)
        want = expected["checkpoints"][run.id]
        assert [(v.id, v.step, v.label) for v in found] == want["variants"]
        assert [c.id for v in found for c in cells_for(cfg, v, plan.templates)] == want["cells"]
        assert [adapter_path(run_dir, v) for v in found] == [str(tmp_path / a) for a in want["adapters"]]
    store.close()
