"""Run one generation job: items -> rendered prompts -> engine -> JSONL rows appended as batches finish."""

from __future__ import annotations

import time
from pathlib import Path

from ptst import __version__
from ptst.core.errors import PtstError
from ptst.core.io import JsonlAppender, read_jsonl_rows
from ptst.core.progress import ProgressBar
from ptst.generate.config import GenerateConfig
from ptst.models import load_model
from ptst.models.engine import Decoding, generate
from ptst.templates import get_template, load_template_file, render_prompt

# Fields that must match between a file's existing rows and this run for resume to be honest.
_IDENTITY = ("template_hash", "model", "adapter", "decoding", "markup")


def run_generation(cfg: GenerateConfig, *, progress: bool = True) -> dict:
    """Generate for every item whose id is not yet in `cfg.out`; returns counts and throughput."""
    for path in cfg.template_file:
        load_template_file(path)
    template = get_template(cfg.template)
    items = cfg.load()
    decoding = Decoding(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                        top_k=cfg.top_k, seed=cfg.seed)
    done = _existing_ids(Path(cfg.out))
    todo = [i for i, item in enumerate(items) if item.id not in done]
    if not todo:
        return {"written": 0, "skipped": len(items), "out": cfg.out}
    if cfg.engine == "vllm":  # vLLM loads the weights itself; ptst needs the tokenizer and the paths
        from ptst.models import LoadedModel, load_tokenizer, resolve_model_path
        from ptst.models.vllm_engine import require_vllm

        require_vllm()
        loaded = LoadedModel(None, load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code), cfg.model,
                             resolve_model_path(cfg.model), cfg.adapter, cfg.dtype, "cuda")
    else:
        loaded = load_model(cfg.model, adapter=cfg.adapter, dtype=cfg.dtype, device=cfg.device,
                            trust_remote_code=cfg.trust_remote_code)
    prompts = [render_prompt(template, item.input, tokenizer=loaded.tokenizer, markup=cfg.markup,
                             system_policy=cfg.system_policy) for item in items]
    common = {"template": template.name, "template_hash": template.identity, "markup": prompts[0].markup,
              "model": cfg.model, "adapter": cfg.adapter, "decoding": decoding.model_dump(),
              "dtype": loaded.dtype, "engine": cfg.engine, "dataset": cfg.data, "ptst_version": __version__}
    _check_same_run(Path(cfg.out), common)
    pending = set(todo)
    written, tokens, start = 0, 0, time.perf_counter()
    with JsonlAppender(cfg.out) as sink, ProgressBar("generating", len(todo), enabled=progress, rate=True) as bar:
        for batch in generate(loaded, prompts, decoding, batch_size=cfg.batch_size, backend=cfg.engine,
                              done=lambda i: i not in pending):
            batch = [g for g in batch if g.index in pending]
            for g in batch:
                item, prompt = items[g.index], prompts[g.index]
                sink.write(sample_row(item, prompt, g, common))
                tokens += g.output_tokens
            written += len(batch)
            bar.advance(len(batch), f"{tokens / max(time.perf_counter() - start, 1e-9):.1f} tok/s")
    seconds = time.perf_counter() - start
    return {"written": written, "skipped": len(items) - len(todo), "out": cfg.out, "seconds": seconds,
            "tokens_per_s": tokens / max(seconds, 1e-9)}


def sample_row(item, prompt, generation, common: dict) -> dict:
    """One generated sample as stored everywhere (JSONL and the study store): the item, the exact rendered
    prompt, the output, how it was made (`common`: template, model, adapter, decoding...) and token counts."""
    return {"id": item.id, "input": item.input, "reference": item.answer, "category": item.category,
            "prompt": prompt.text, "output": generation.text, "system_policy": prompt.system_policy,
            "markup": prompt.markup, **common, "finish_reason": generation.finish_reason,
            "prompt_tokens": generation.prompt_tokens, "output_tokens": generation.output_tokens}


def _existing_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {row["id"] for row in read_jsonl_rows(path)}


def _check_same_run(path: Path, common: dict) -> None:
    if not path.exists():
        return
    for row in read_jsonl_rows(path):
        for key in _IDENTITY:
            if row.get(key) != common[key]:
                raise PtstError(f"{path}: holds samples with a different {key} ({row.get(key)!r}, this run "
                                f"{common[key]!r}); write to another --out or delete the file")
        return
