"""A rough time estimate for `ptst run --dry-run`, from the model's size and this machine's kind.

Calibrated on the embedded models on a 2-core CPU (fp32): training ~2.3e-11 s per token-parameter, greedy
generation at batch 8 ~5e-11 s per generated token-parameter, prompts ~10x cheaper per token. On a GPU the
estimate divides by 60 (a rule of thumb for one modern GPU). It is an order of magnitude, not a promise.
"""

from __future__ import annotations

import re

from ptst.study.config import StudyConfig
from ptst.study.plan import Plan, estimated_steps

TRAIN_S_PER_TOKEN_PARAM = 2.3e-11
GEN_S_PER_TOKEN_PARAM = 5.3e-11
PROMPT_TOKEN_DISCOUNT = 0.1
GPU_SPEEDUP = 60.0
EMBEDDED_PARAMS = {"embedded:qwen2.5-coder-0.5b-instruct": 630e6, "embedded:smollm2-135m-instruct": 135e6,
                   "embedded:tiny-random": 3e6}


def model_params(model: str) -> float:
    if model in EMBEDDED_PARAMS:
        return EMBEDDED_PARAMS[model]
    m = re.search(r"(\d+(?:\.\d+)?)\s*([bm])\b", model.lower().replace("-", " ").replace("_", " "))
    if m:
        return float(m.group(1)) * (1e9 if m.group(2) == "b" else 1e6)
    return 1e9


def estimate_seconds(cfg: StudyConfig, plan: Plan, *, on_gpu: bool, prompt_tokens: int = 200,
                     train_tokens: int = 250) -> dict:
    params = model_params(cfg.model)
    steps = estimated_steps(cfg, plan.train_items)
    per_step_tokens = (cfg.train.hyper.batch_size * cfg.train.hyper.grad_accum * train_tokens) if cfg.train else 0
    all_steps = sum(estimated_steps(cfg, plan.train_items, run) for run in plan.trainings)  # baselines: own mix
    train_s = all_steps * per_step_tokens * params * TRAIN_S_PER_TOKEN_PARAM
    ckpt_factor = 1
    if cfg.train and cfg.train.eval_every_steps:
        ckpt_factor += steps // cfg.train.eval_every_steps
    gen_s = 0.0
    for cell in plan.cells:
        n = plan.items[cell.eval_set.name]
        tokens = cell.decoding["max_new_tokens"] * 0.7 + prompt_tokens * PROMPT_TOKEN_DISCOUNT
        factor = ckpt_factor if cell.variant.training is not None else 1
        gen_s += n * tokens * params * GEN_S_PER_TOKEN_PARAM * factor
    scale = 1 / GPU_SPEEDUP if on_gpu else 1.0
    return {"train_s": train_s * scale, "generate_s": gen_s * scale, "steps_per_run": steps,
            "checkpoint_evals_per_run": ckpt_factor - 1}
