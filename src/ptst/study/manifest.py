"""The manifest of a run directory (`RunDir`'s manifest.json): everything needed to know what it holds and how it
was made."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from ptst.core.hashing import content_hash
from ptst.core.redact import redact_config
from ptst.core.versions import package_versions
from ptst.store.run_dir import RunDir
from ptst.study.config import StudyConfig
from ptst.study.plan import Plan
from ptst.templates import get_template


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        import torch

        from ptst.models.load import bf16_unit

        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cpu_bf16_unit"] = bf16_unit("cpu")

        info["cuda"] = torch.cuda.is_available()
        if info["cuda"]:
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return info


def write_manifest(run_dir: str | Path, cfg: StudyConfig, plan: Plan, *, started: float,
                   extra: dict | None = None) -> dict:
    names = sorted({*cfg.test_templates, *(cfg.train.templates if cfg.train else []),
                    *(t for tests in cfg.row_tests.values() for t in tests)})
    manifest = {
        "study": cfg.name,
        "config": redact_config(cfg.model_dump()),  # a base_url's credentials are never written down
        "config_hash": content_hash(redact_config(cfg.model_dump())),
        "templates": {n: {**get_template(n).content(), "hash": get_template(n).identity} for n in names},
        "seeds": cfg.train.seeds if cfg.train else [],
        "plan": {"trainings": [{"id": t.id, "template": t.template, "seed": t.seed, "dir": t.dirname}
                               for t in plan.trainings],
                 "cells": len(plan.cells), "eval_items": plan.items, "train_items": plan.train_items},
        "versions": package_versions(),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        **(extra or {}),  # e.g. a shard's K/N and study fingerprint
    }
    RunDir(run_dir).save_manifest(manifest)
    return manifest
