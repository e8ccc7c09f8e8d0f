"""Time estimates for `ptst run --dry-run` (and for splitting a study into shards): the plan's work counted in
tokens, times the seconds per token of some machine (`Rates`).

Rates come from a short measured calibration of the study's own model, dtype and batch sizes on this machine
(`ptst.study.calibrate`); without one, from reference constants fitted on the embedded models on a 2-core CPU
in float32 (training ~2.3e-11 s per token-parameter, greedy generation at batch 8 ~5.3e-11 s per generated
token-parameter, prompt tokens ~10x cheaper; a GPU taken as 60x faster). The reference constants also weigh the
parts of a study when it is split into shards: they never depend on the machine, so every machine splits a
study the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ptst.study.config import StudyConfig
from ptst.study.plan import Plan, estimated_steps

TRAIN_S_PER_TOKEN_PARAM = 2.3e-11
GEN_S_PER_TOKEN_PARAM = 5.3e-11
PROMPT_TOKEN_DISCOUNT = 0.1
GPU_SPEEDUP = 60.0
EMBEDDED_PARAMS = {"embedded:qwen2.5-coder-0.5b-instruct": 630e6, "embedded:smollm2-135m-instruct": 135e6,
                   "embedded:tiny-random": 3e6, "embedded:tiny-random-llama": 3e6}
ANSWER_FRACTION = 0.7  # of max_new_tokens: greedy answers that stop early (refusals) beside ones that run on
TRAIN_TOKENS = 250  # tokens per training example, when the data cannot be read to count them
PROMPT_TOKENS = 200  # tokens per prompt, likewise


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of work on one machine."""

    train_token: float  # per trained token, at the study's training batch size
    prefill_token: float  # per prompt token
    decode_token: float  # per generated token of one row, at the study's generation batch size
    load: float = 0.0  # loading the model once (each training run, each model evaluated)
    source: str = "reference constants"


@dataclass
class Workload:
    """Token counts of the study's own data (defaults where the data could not be read here)."""

    train_tokens: float = TRAIN_TOKENS  # per training example
    prompt_tokens: dict[tuple[str, str], float] = field(default_factory=dict)  # (eval, test template) -> per item,
    # what the engine runs per item (a prefix shared by every prompt is run once per batch, and not counted)

    def prompt(self, eval_name: str, template: str) -> float:
        return self.prompt_tokens.get((eval_name, template), PROMPT_TOKENS)


@dataclass(frozen=True)
class Done:
    """What a run directory already holds, so an estimate counts only the work left: samples per cell id, and
    the training runs that will not train again."""

    samples: dict[str, int] = field(default_factory=dict)
    trained: frozenset[str] = frozenset()


def model_params(model: str) -> float:
    if model in EMBEDDED_PARAMS:
        return EMBEDDED_PARAMS[model]
    m = re.search(r"(\d+(?:\.\d+)?)\s*([bm])\b", model.lower().replace("-", " ").replace("_", " "))
    if m:
        return float(m.group(1)) * (1e9 if m.group(2) == "b" else 1e6)
    return 1e9


def reference_rates(cfg: StudyConfig, *, on_gpu: bool = False) -> Rates:
    params, scale = model_params(cfg.model), (1 / GPU_SPEEDUP if on_gpu else 1.0)
    decode = GEN_S_PER_TOKEN_PARAM * params * scale
    return Rates(TRAIN_S_PER_TOKEN_PARAM * params * scale, decode * PROMPT_TOKEN_DISCOUNT, decode,
                 source="reference constants" + (" / 60 for a GPU" if on_gpu else " (2-core CPU, float32)"))


def checkpoint_factor(cfg: StudyConfig, plan: Plan) -> int:
    """Models evaluated per training run: the final one, plus its checkpoints."""
    if not (cfg.train and cfg.train.eval_every_steps):
        return 1
    return 1 + estimated_steps(cfg, plan.train_items) // cfg.train.eval_every_steps


def part_seconds(cfg: StudyConfig, plan: Plan, part, rates: Rates, work: Workload | None = None,
                 done: Done | None = None) -> tuple[float, float]:
    """(training, generation) seconds of one part of a study (`ptst.study.shards.Part`: a training run and its
    cells, or the base model's cells); with DONE, only what is left of it."""
    work, done = work or Workload(), done or Done()
    train_s, factor = 0.0, 1
    if part.training is not None:
        h = cfg.train.hyper
        steps = estimated_steps(cfg, plan.train_items, part.training)
        if part.training.id not in done.trained:
            train_s = steps * h.batch_size * h.grad_accum * work.train_tokens * rates.train_token + rates.load
        factor = checkpoint_factor(cfg, plan)
    gen_s = 0.0
    for cell in part.cells:
        left = max(plan.items[cell.eval_set.name] - done.samples.get(cell.id, 0), 0)
        gen_s += factor * left * item_seconds(cell, rates, work)
    if gen_s or not part.cells:
        gen_s += factor * rates.load
    return train_s, gen_s


def item_seconds(cell, rates: Rates, work: Workload) -> float:
    """Seconds to generate one sample of CELL."""
    return (work.prompt(cell.eval_set.name, cell.test_template) * rates.prefill_token
            + ANSWER_FRACTION * cell.decoding["max_new_tokens"] * rates.decode_token)


@dataclass(frozen=True)
class UnitCosts:
    """Estimated seconds of one unit of a study's progress (`ptst.study.run_cells.total_units`): one trained
    example, or one sample of a cell (by cell id). The progress display weighs units by these for its time left."""

    example: float
    items: dict[str, float]

    def of(self, units: float, cell_id: str | None = None) -> float:
        """Seconds of UNITS samples of the cell CELL_ID, or of UNITS trained examples without one."""
        return units * (self.example if cell_id is None else self.items.get(cell_id, 0.0))


def unit_costs(cfg: StudyConfig, plan: Plan, rates: Rates, work: Workload | None = None) -> UnitCosts:
    work = work or Workload()
    example = cfg.train.hyper.grad_accum * work.train_tokens * rates.train_token if cfg.train else 0.0
    return UnitCosts(example, {c.id: item_seconds(c, rates, work) for c in plan.cells})


def plan_seconds(cfg: StudyConfig, plan: Plan, parts, rates: Rates, work: Workload | None = None,
                 done: Done | None = None) -> tuple[float, float]:
    """(training, generation) seconds of the given parts together (with DONE, of what is left of them)."""
    both = [part_seconds(cfg, plan, p, rates, work, done) for p in parts]
    return sum(t for t, _ in both), sum(g for _, g in both)
