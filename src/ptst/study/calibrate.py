"""Measure this machine's speed on a study's own model, dtype and batch sizes, once, for time estimates.

A calibration loads the model, times a few LoRA (or full) training steps at the study's training batch size on
sequences of `TRAIN_LENGTH` tokens (the last 40% of each trained, as a prompt-masked example), the prefill of
prompts, and greedy decoding steps at the study's generation batch size (ptst's own decoding loop, no stop
token, so every step runs). The rates are cached per machine in `$PTST_HOME/calibration/MACHINE.json` (the
machine: CPU or GPU model, core and thread count, torch version), keyed by model, dtype, device and batch
sizes. The study's own token counts (training example and prompt lengths) are measured from its data each
time (`measure_workload`), as they are the study's, not the machine's.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.hashing import content_hash
from ptst.core.io import atomic_write_json
from ptst.core.paths import ptst_home
from ptst.study.config import StudyConfig
from ptst.study.estimate import Rates, Workload, model_params
from ptst.study.plan import Plan

TRAIN_LENGTH = 128  # tokens per training row in the calibration
PREFILL_LENGTH = 128  # tokens per prompt for the prefill timing
MIN_SECONDS = 1.0  # each timing runs at least this long (or its step count's cap)
SAMPLE_ITEMS = 32  # items per data set whose lengths are counted
MODES = ("auto", "no", "again")  # --calibrate: measure when nothing is cached; cached only; measure anew


def machine() -> dict:
    """What decides the speed of one machine: its processor, core and thread count, GPU, torch version."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__}


def generation_batch(cfg: StudyConfig) -> int:
    """The rows a generation batch holds: the study's batch_size, or what ptst's engine sizes for a typical
    prompt (200 tokens) and the study's longest answers."""
    from ptst.models.engines.base import MAX_ROWS, TOKEN_BUDGET

    if cfg.batch_size:
        return cfg.batch_size
    longest = max(ev.max_new_tokens or cfg.decoding.max_new_tokens for ev in cfg.evals)
    return max(1, min(MAX_ROWS, TOKEN_BUDGET // (200 + longest)))


def calibration_key(cfg: StudyConfig) -> dict:
    from ptst.models.load import pick_device, resolve_dtype

    h = cfg.train.hyper if cfg.train else None
    train = {"batch_size": h.batch_size, "full": h.full, "lora_r": h.lora_r, "lora_targets": h.lora_targets} \
        if h else None
    return {"model": cfg.model, "dtype": resolve_dtype(cfg.dtype, cfg.device), "device": pick_device(cfg.device),
            "train": train,
            "generate_batch": generation_batch(cfg)}


def cache_path(desc: dict | None = None) -> Path:
    return ptst_home() / "calibration" / f"{content_hash(desc or machine())}.json"


def rates_for(cfg: StudyConfig, mode: str = "auto", *, log=lambda message: None) -> Rates | None:
    """This machine's rates for the study: cached, or measured now (`mode` auto: when none is cached; again:
    always; no: never). None when there is none and none can be measured here (the reason is logged)."""
    desc = machine()
    path, key = cache_path(desc), calibration_key(cfg)
    entries = _read(path).get("calibrations", {})
    found = entries.get(content_hash(key))
    if found and mode != "again":
        return _rates(found, desc, path)
    if mode == "no":
        return None
    reason = _cannot_measure(cfg)
    if reason:
        log(f"no calibration: {reason}")
        return None
    log(f"calibrating {cfg.model} ({key['dtype']}, {key['device']}) on this machine, once (cached in {path})")
    started = time.perf_counter()
    try:
        rates = measure(cfg, key)
    except PtstError as err:
        log(f"no calibration: {err}")
        return None
    entry = {"key": key, "rates": rates, "measured": time.strftime("%Y-%m-%d %H:%M"),
             "took_s": round(time.perf_counter() - started, 1)}
    doc = _read(path) or {"machine": desc, "calibrations": {}}
    doc.setdefault("calibrations", {})[content_hash(key)] = entry
    atomic_write_json(path, doc)
    return _rates(entry, desc, path)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _rates(entry: dict, desc: dict, path: Path) -> Rates:
    r, key = entry["rates"], entry["key"]
    where = desc["gpu"] or f"{desc['cpu']}, {desc['cpus']} cores, {desc['threads']} threads"
    batch = f"training batch {key['train']['batch_size']}, " if key["train"] else ""
    source = (f"calibrated on this machine ({where}; torch {desc['torch']}) on {entry['measured']} in "
              f"{entry['took_s']:.0f} s: {key['model']} {key['dtype']} on {key['device']}, {batch}generation batch "
              f"{key['generate_batch']}; training {r['train_token']:.2e} s/token, prefill {r['prefill_token']:.2e} "
              f"s/token, decoding {r['decode_token']:.2e} s/token/row, model load {r['load']:.1f} s (cached in {path}; "
              "--calibrate again to measure anew)")
    return Rates(r["train_token"], r["prefill_token"], r["decode_token"], r["load"], source)


def _cannot_measure(cfg: StudyConfig) -> str | None:
    """Why this machine cannot calibrate the study's model (too big for its memory), or None."""
    from ptst.models.load import pick_device

    if pick_device(cfg.device) != "cpu":
        return None
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    need = model_params(cfg.model) * (2 if cfg.dtype in ("bfloat16", "float16") else 4) * 3
    if need > free:
        return (f"{cfg.model} needs about {need / 2**30:.0f} GiB to calibrate, {free / 2**30:.0f} GiB free "
                "here")
    return None


def measure(cfg: StudyConfig, key: dict) -> dict:
    """Seconds per unit of work, measured now (see the module's docstring)."""
    from ptst.models.load import load_model

    started = time.perf_counter()
    loaded = load_model(cfg.model, dtype=key["dtype"], device=cfg.device)
    load_s = time.perf_counter() - started
    prefill, decode = _generation_rates(loaded, key["generate_batch"])
    train = _train_rate(loaded, cfg, key["dtype"]) if cfg.train else 0.0
    return {"train_token": train, "prefill_token": prefill, "decode_token": decode, "load": load_s}


def _random_rows(vocab: int, rows: int, length: int, seed: int = 0) -> list[list[int]]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (rows, length), generator=g).tolist()


def _vocab(model) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(config.vocab_size)


def _timed(run, *, most: int = 5) -> float:
    """Seconds per call of `run`, after one warm-up call: repeated until MIN_SECONDS or `most` calls. A warm-up
    of 10 MIN_SECONDS or more is the measurement (its one-time costs are small beside it; a big model's calibration
    on a CPU stays short)."""
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    if first >= 10 * MIN_SECONDS:
        return first
    times: list[float] = []
    while len(times) < most and sum(times) < MIN_SECONDS:
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _generation_rates(loaded, batch: int) -> tuple[float, float]:
    """(seconds per prompt token, seconds per generated token of one row at `batch` rows)."""
    from ptst.models.decode import decode_batch

    model, vocab = loaded.model, _vocab(loaded.model)
    pad = loaded.tokenizer.pad_token_id or 0

    def run(rows, new):
        return lambda: decode_batch(model, rows, pad_id=pad, stops=[], max_new_tokens=new)

    long_rows = _random_rows(vocab, 2, PREFILL_LENGTH)
    prefill = _timed(run(long_rows, 1)) / (2 * PREFILL_LENGTH)
    short = _random_rows(vocab, batch, 16, seed=1)
    one = _timed(run(short, 1))
    steps = 8
    many = _timed(run(short, 1 + steps), most=3)
    return prefill, max(many - one, 1e-9) / (steps * batch)


def _train_rate(loaded, cfg: StudyConfig, compute: str) -> float:
    """Seconds per trained token: forward, backward and optimiser step at the study's batch size, in the compute
    type training uses (a 16-bit one under autocast, the LoRA weights in float32, as `ptst train` does)."""
    import contextlib

    import torch

    from ptst.train.examples import IGNORE, make_collator
    from ptst.train.run import _with_lora, takes_logits_to_keep

    h = cfg.train.hyper
    base = loaded.model
    base.config.use_cache = False
    model = base if h.full else _with_lora(base, h)
    model.train()
    length = min(TRAIN_LENGTH, h.max_length)
    cut = int(length * 0.6)
    rows = [{"input_ids": ids, "labels": [IGNORE] * cut + ids[cut:]}
            for ids in _random_rows(_vocab(base), h.batch_size, length, seed=2)]
    collator = make_collator(loaded.tokenizer.pad_token_id or 0, trained_logits_only=takes_logits_to_keep(base))
    batch = {k: v.to(base.device) for k, v in collator(rows).items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)

    half = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(compute)
    device_type = base.device.type

    def step():
        with torch.autocast(device_type, dtype=half) if half else contextlib.nullcontext():
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    per_step = _timed(step, most=3)
    return per_step / (h.batch_size * length)


def measure_workload(cfg: StudyConfig, plan: Plan, *, log=lambda message: None) -> Workload:
    """Mean tokens per training example and per prompt (after the prefix every prompt of a set shares, which
    ptst's engine runs once per batch), from up to SAMPLE_ITEMS items of the study's own data; defaults where the
    model's tokenizer or a data set cannot be read here."""
    from ptst.models import load_tokenizer
    from ptst.models.decode import common_prefix
    from ptst.models.engines.base import MIN_SHARED_PREFIX
    from ptst.templates import render_prompt
    from ptst.templates.render import encode_rendered
    from ptst.train.examples import tokenize_example

    work = Workload()
    try:
        tokenizer = load_tokenizer(cfg.model)
    except PtstError as err:
        log(f"token counts: defaults ({err})")
        return work
    render = {"markup": cfg.markup, "system_policy": cfg.system_policy}
    if cfg.train:
        try:
            items = cfg.train.load(purpose="train")[:SAMPLE_ITEMS]
            template = plan.templates[cfg.train.templates[0]]
            lengths = [len(tokenize_example(item, template, tokenizer, **render).input_ids) for item in items]
            work.train_tokens = min(statistics.fmean(lengths), cfg.train.hyper.max_length) if lengths else \
                work.train_tokens
        except PtstError as err:
            log(f"training tokens per example: default ({err})")
    tests = {(c.eval_set.name, c.test_template) for c in plan.cells}
    for ev in cfg.evals:
        try:
            items = (plan.eval_items.get(ev.name) or ev.load(purpose="eval"))[:SAMPLE_ITEMS]
        except PtstError as err:
            log(f"{ev.name}: prompt tokens: default ({err})")
            continue
        for name in sorted(t for e, t in tests if e == ev.name):
            template = plan.templates[name]
            ids = [encode_rendered(render_prompt(template, item.input, tokenizer=tokenizer, **render), tokenizer)
                   for item in items]
            if not ids:
                continue
            shared = common_prefix(ids) if cfg.engine == "ptst" and len(ids) > 1 else 0
            shared = shared if shared >= MIN_SHARED_PREFIX else 0
            work.prompt_tokens[(ev.name, name)] = statistics.fmean(len(x) for x in ids) - shared
    return work
