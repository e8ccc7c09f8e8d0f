"""`ptst generate`: items -> rendered prompts -> engine -> JSONL rows appended as batches finish."""

from __future__ import annotations

import time
from pathlib import Path

from ptst import __version__
from ptst.core.errors import PtstError
from ptst.core.io import JsonlAppender, read_jsonl_rows
from ptst.core.progress import ProgressBar
from ptst.generate.cells import CellJob, Rendering, generate_cells, prepare_cell
from ptst.generate.config import GenerateConfig
from ptst.models.engines import engines
from ptst.templates import get_template, load_template_file

# Fields that must match between a file's existing rows and this run for resume to be honest.
_IDENTITY = ("template_hash", "model", "adapter", "decoding", "markup")


def run_generation(cfg: GenerateConfig, *, progress: bool = True) -> dict:
    """Generate for every item whose id is not yet in `cfg.out`; returns counts and throughput."""
    for path in cfg.template_file:
        load_template_file(path)
    template = get_template(cfg.template)
    engine = engines.get(cfg.engine)
    items = cfg.load()
    done = _existing_ids(Path(cfg.out))
    todo = [item for item in items if item.id not in done]
    if not todo:
        return {"written": 0, "skipped": len(items), "out": cfg.out}
    engine.check()
    loaded = engine.load(cfg.model, adapter=cfg.adapter, dtype=cfg.dtype, device=cfg.device,
                         trust_remote_code=cfg.trust_remote_code)
    written, tokens, start = 0, 0, time.perf_counter()

    def write(rows: list[dict]) -> None:
        nonlocal written, tokens
        for row in rows:
            sink.write(row)
            tokens += row["output_tokens"]
        written += len(rows)
        bar.advance(len(rows), f"{tokens / max(time.perf_counter() - start, 1e-9):.1f} tok/s")

    job = CellJob(items, template, cfg.decoding(), cfg.adapter, cfg.data, write, have=done,
                  extra={"ptst_version": __version__})
    # every prompt rendered and checked before the output file or the progress display exists: a refused input
    # is its one error line, and leaves nothing behind
    prepare_cell(job, loaded, engine, Rendering(cfg.model, cfg.markup, cfg.system_policy))
    _check_same_run(Path(cfg.out), job.provenance)
    with JsonlAppender(cfg.out) as sink, ProgressBar("generating", len(todo), enabled=progress, rate=True) as bar:
        generate_cells(engine, loaded, [job], batch_size=cfg.batch_size)
    seconds = time.perf_counter() - start
    return {"written": written, "skipped": len(items) - len(todo), "out": cfg.out, "seconds": seconds,
            "tokens_per_s": tokens / max(seconds, 1e-9)}


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
