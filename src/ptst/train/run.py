"""Run one fine-tuning job with the Hugging Face Trainer and write a standard HF/PEFT output directory."""

from __future__ import annotations

from pathlib import Path

from ptst.core.console import note
from ptst.core.errors import PtstError
from ptst.core.io import atomic_write_json
from ptst.core.versions import package_versions
from ptst.data import get_dataset, load_items
from ptst.models import load_model, load_tokenizer
from ptst.models.load import resolve_dtype
from ptst.store.training_dir import RECORD, TrainingDir
from ptst.templates import Template, get_template, load_template_file
from ptst.templates.safety import is_safety_template
from ptst.train.config import TrainConfig
from ptst.train.examples import ExampleStats, audit_record, build_examples, in_rounds, make_collator, mask_audit

AUDITED = 3  # examples of each data set (task, mix) shown by the mask audit
LORA_TARGETS = {t: ["q_proj", "k_proj", "v_proj", "o_proj"]
                for t in ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "phi3")}


def run_training(cfg: TrainConfig, *, log=lambda msg: note(f"ptst: {msg}"), callbacks=(),
                 quiet: bool = False) -> dict:
    """Train and save; returns the training record (also written to OUT/ptst_train.json). `callbacks` are
    Trainer callbacks (a study uses one for its own progress display, with `quiet` turning off the Trainer's)."""
    out = Path(cfg.out)
    if TrainingDir(out).is_finished() and not cfg.dry_run:
        raise PtstError(f"--out {out}: already holds a finished training run ({RECORD}); choose another --out")
    if cfg.audit_json and Path(cfg.audit_json).exists():
        raise PtstError(f"--audit-json {cfg.audit_json}: already exists; choose another file")
    for path in cfg.template_file:
        load_template_file(path)
    template = get_template(cfg.template)
    if is_safety_template(template):
        log(f"warning: training template {template.name} carries a safety system prompt; PTST says train "
            "without one (e.g. chat:vanilla) and add it at test time")
    groups = _training_groups(cfg, template)
    tokenizer = load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
    built, stats, audited = [], ExampleStats(), []
    for items, group_template in groups:
        kept, part = build_examples(items, group_template, tokenizer, max_length=cfg.max_length,
                                    overlong=cfg.overlong, markup=cfg.markup, system_policy=cfg.system_policy)
        built, audited = built + [kept], audited + kept[:AUDITED]
        stats.add(part)
    examples = [e for kept in built for e in kept]
    if cfg.mix_repeat > 1:  # one copy of each mixed example per round of the epoch, never two in one batch
        examples = in_rounds(built[0], built[1], cfg.mix_repeat, seed=cfg.seed,
                             batch=cfg.batch_size * cfg.grad_accum)
    log(stats.summary() + (f"; the {len(built[1])} mixed-in examples shown {cfg.mix_repeat} times, "
                           f"{len(examples)} per epoch" if cfg.mix_repeat > 1 else ""))
    if cfg.audit_json:
        atomic_write_json(Path(cfg.audit_json), {"model": cfg.model, "markup": cfg.markup,
                                                 "examples": [audit_record(e, tokenizer) for e in audited]})
    if cfg.dry_run:
        return {"dry_run": True, "stats": stats, "audits": [mask_audit(e, tokenizer) for e in audited]}
    if not examples:
        raise PtstError(f"no training examples left: all {stats.total} are longer than --max-length {cfg.max_length}")
    trainer = _build_trainer(cfg, examples, tokenizer, callbacks=list(callbacks), quiet=quiet)
    resume = _resume_point(cfg, out)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.model.config.use_cache = True  # the saved model generates with its cache, as usual
    trainer.save_model(str(out))
    if trainer.args.world_size > 1:
        log(f"rank {trainer.args.process_index} of {trainer.args.world_size}: trained {trainer.state.global_step} "
            "steps")
    record = _record(cfg, groups, stats, trainer, result, resume, per_epoch=len(examples))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(out)
        TrainingDir(out).save_record(record)
    return record


def _training_groups(cfg: TrainConfig, template: Template) -> list[tuple[list, Template]]:
    """The task items under the training template, then the --mix items under theirs (--mix-template, by default
    the training template)."""
    spec = get_dataset(cfg.data)
    if spec.role != "task":
        raise PtstError(f"--data {cfg.data} has role {spec.role}; train on a task data set (add refusal data "
                        "with --mix)")
    if cfg.mix_template and not cfg.mix:
        raise PtstError(f"--mix-template {cfg.mix_template}: there is no --mix data set to render with it")
    if cfg.mix_repeat != 1 and not cfg.mix:
        raise PtstError(f"--mix-repeat {cfg.mix_repeat}: there is no --mix data set to repeat")
    mix_template = get_template(cfg.mix_template) if cfg.mix_template else template
    groups = [(cfg.load(purpose="train"), template)]
    if cfg.mix:
        name, _, count = cfg.mix.partition(":")
        if count and not count.isdigit():
            raise PtstError(f"--mix {cfg.mix}: expected NAME or NAME:N with N a whole number")
        if get_dataset(name).role != "refusal":
            raise PtstError(f"--mix {name}: has role {get_dataset(name).role}; mix in a refusal data set")
        mixed = load_items(name, data_file=cfg.mix_file, purpose="train", limit=int(count) if count else None,
                           seed=cfg.data_seed, file_flag="--mix-file")
        groups.append((mixed, mix_template))  # repeated (--mix-repeat) once tokenised: `in_rounds`
    return groups


def _build_trainer(cfg: TrainConfig, examples, tokenizer, *, callbacks: list, quiet: bool):
    import datasets
    from transformers import Trainer, TrainingArguments, set_seed

    compute = resolve_dtype(cfg.dtype, cfg.device)
    loaded = load_model(cfg.model, dtype=weights_dtype(compute, full=cfg.full), device=cfg.device,
                        trust_remote_code=cfg.trust_remote_code, for_training=True)
    # no key/value cache while training: not needed, and transformers recognises packed rows only without one
    loaded.model.config.use_cache = False
    # LoRA's random initialisation draws from the global generators: seeded here by the run's seed, so an adapter
    # is the same whatever the process did before (a study trains a run after others, or alone in a shard)
    set_seed(cfg.seed)
    model = loaded.model if cfg.full else _with_lora(loaded.model, cfg)
    rows = [{"input_ids": e.input_ids, "labels": e.labels, "length": len(e.input_ids)} for e in examples]
    collator = make_collator(tokenizer.pad_token_id, packing=cfg.packing,
                             trained_logits_only=not cfg.packing and takes_logits_to_keep(loaded.model))
    args = TrainingArguments(
        output_dir=cfg.out, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1, lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup, optim=cfg.optimizer, weight_decay=cfg.weight_decay, seed=cfg.seed,
        data_seed=cfg.seed, logging_steps=cfg.logging_steps, save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500, report_to="none",
        # repeated mix examples come in the order `in_rounds` made; else batches of similar lengths, shuffled
        train_sampling_strategy="sequential" if cfg.mix_repeat > 1 else "group_by_length",
        remove_unused_columns=False, use_cpu=loaded.device == "cpu", bf16=compute == "bfloat16",
        fp16=compute == "float16", dataloader_num_workers=0, disable_tqdm=quiet,
        ddp_find_unused_parameters=False)
    trainer = Trainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                      data_collator=collator,
                      processing_class=tokenizer, callbacks=callbacks)
    if quiet:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


def weights_dtype(compute: str, *, full: bool) -> str:
    """The dtype the model's weights are loaded in to train in `compute` precision (a 16-bit compute type runs
    under the Trainer's autocast). LoRA: the frozen base weights in the compute type itself (half the memory and
    the bandwidth), while peft keeps the adapter's weights, and so the optimiser's state, in float32. Full
    fine-tuning: float32 master weights, as mixed-precision training keeps them (a learning rate of 1e-4 would
    round away in bf16 weights)."""
    return "float32" if full else compute


def takes_logits_to_keep(model) -> bool:
    """Whether the model's forward can project only some positions onto the vocabulary (transformers' own
    architectures can; remote code may not). ptst passes a mask of positions, which transformers takes only since
    `slice_logits_to_keep` (older versions, e.g. the 5.19 that vLLM's CPU build pins, index with it and fail)."""
    import inspect

    from transformers import modeling_utils

    return hasattr(modeling_utils, "slice_logits_to_keep") and \
        "logits_to_keep" in inspect.signature(type(model).forward).parameters


def _with_lora(model, cfg: TrainConfig):
    from peft import LoraConfig, get_peft_model

    targets = cfg.lora_targets or LORA_TARGETS.get(model.config.model_type, "all-linear")
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, lora)
    except ValueError as err:  # peft: target modules not found in the model, and the like
        raise PtstError(f"lora_targets (--lora-targets) {targets}: {str(err).splitlines()[0][:200]}") from None


def _resume_point(cfg: TrainConfig, out: Path) -> str | None:
    if not cfg.resume:
        if any(out.glob("checkpoint-*")):
            raise PtstError(f"--out {out}: holds checkpoints of an unfinished run; add --resume to continue it")
        return None
    steps = TrainingDir(out).checkpoint_steps()
    if not steps:
        raise PtstError(f"--resume: no checkpoint-* directory in {out} (checkpoints need --save-steps)")
    return str(TrainingDir(out).adapter(steps[-1]))


def _precision(cfg: TrainConfig, model) -> dict:
    """What the run computed in, as the model holds it (not as asked)."""
    def dtypes(trainable: bool) -> list[str]:
        return sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()
                       if p.requires_grad == trainable})

    return {"requested": cfg.dtype, "compute": resolve_dtype(cfg.dtype, cfg.device), "frozen": dtypes(False),
            "trained": dtypes(True)}


def _template_record(template: Template) -> dict:
    return {"name": template.name, "hash": template.identity, **template.content()}


def _record(cfg: TrainConfig, groups, stats, trainer, result, resume, *, per_epoch: int) -> dict:
    history = trainer.state.log_history
    mix_template = groups[1][1] if cfg.mix else None
    return {
        "config": cfg.model_dump(),
        "template": _template_record(groups[0][1]),
        "data": {"name": cfg.data, "file": cfg.data_file, "limit": cfg.limit, "data_seed": cfg.data_seed,
                 "mix": cfg.mix, "mix_repeat": cfg.mix_repeat,
                 "mix_template": _template_record(mix_template) if mix_template else None,
                 "examples": stats.kept, "examples_per_epoch": per_epoch, "dropped": stats.dropped,
                 "truncated": stats.truncated},
        "kind": "full" if cfg.full else "lora",
        "dtype": _precision(cfg, trainer.model),
        "trained_logits_only": getattr(trainer.data_collator, "trained_logits_only", False),
        "seed": cfg.seed,
        "world_size": trainer.args.world_size,
        "main_process": trainer.is_world_process_zero(),
        "steps": trainer.state.global_step,
        "resumed_from": resume,
        "train_loss": result.training_loss,
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
        "loss_curve": [{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h],
        "versions": package_versions(),
    }
