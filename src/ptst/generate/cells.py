"""The one way ptst generates a cell (items x one template x one model/adapter x one decoding), shared by
`ptst generate` and studies: render every prompt, record how each sample was made (provenance), skip the ids a
caller already holds (resume), and hand each finished batch's sample rows to the caller's `write`.

Engines that load one adapter with the model generate cell by cell; engines that attach adapters per request
(vLLM) take every cell of every adapter in one call per decoding setting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ptst.data.item import Item
from ptst.models.engines import Decoding, Engine, Generation
from ptst.models.load import LoadedModel, check_prompts_fit
from ptst.templates import Template, render_prompt
from ptst.templates.render import Rendered, encode_rendered


@dataclass(eq=False)  # compared and hashed by identity
class CellJob:
    """One cell to generate. `have`: ids already stored; `write(rows)` stores one finished batch's new rows;
    `begin(n_have)` is called when the cell's generation starts (for progress displays)."""

    items: Sequence[Item]
    template: Template
    decoding: Decoding
    adapter: str | None
    dataset: str
    write: Callable[[list[dict]], None]
    have: set[str] = field(default_factory=set)
    extra: dict = field(default_factory=dict)  # recorded after the standard provenance (cell id, ptst version)
    begin: Callable[[int], None] = lambda n_have: None
    prompts: list[Rendered] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def todo(self) -> list[int]:
        return [i for i, item in enumerate(self.items) if item.id not in self.have]


@dataclass(frozen=True)
class Rendering:
    model: str  # the model reference as the user gave it (recorded on every sample)
    markup: str = "auto"
    system_policy: str = "auto"


def prepare_cell(job: CellJob, loaded: LoadedModel, engine: Engine, rendering: Rendering) -> CellJob:
    """Render every prompt (all of them, so the batch plan does not depend on what is already done) and fix the
    provenance every sample of the cell records."""
    job.prompts = [render_prompt(job.template, item.input, tokenizer=loaded.tokenizer, markup=rendering.markup,
                                 system_policy=rendering.system_policy) for item in job.items]
    check_prompts_fit(loaded, [encode_rendered(p, loaded.tokenizer) for p in job.prompts], job.decoding.max_new_tokens,
                      [item.id for item in job.items])
    job.provenance = {"template": job.template.name, "template_hash": job.template.identity,
                      "markup": job.prompts[0].markup if job.prompts else rendering.markup,
                      "model": rendering.model, "adapter": job.adapter, "decoding": job.decoding.model_dump(),
                      "dtype": loaded.dtype, "engine": engine.name, "dataset": job.dataset, **job.extra}
    return job


def sample_row(item: Item, prompt: Rendered, generation: Generation, provenance: dict) -> dict:
    """One generated sample as stored everywhere (JSONL and the study store): the item, the exact rendered
    prompt, the output, how it was made (template, model, adapter, decoding...) and token counts."""
    return {"id": item.id, "input": item.input, "reference": item.answer, "category": item.category,
            "prompt": prompt.text, "output": generation.text, "system_policy": prompt.system_policy,
            "markup": prompt.markup, **provenance, "finish_reason": generation.finish_reason,
            "prompt_tokens": generation.prompt_tokens, "output_tokens": generation.output_tokens}


def generate_cells(engine: Engine, loaded: LoadedModel, jobs: Sequence[CellJob], *,
                   batch_size: int | None = None) -> None:
    """Generate every missing sample of every prepared job. Per-adapter engines need every job's adapter to be
    the loaded one; per-request engines serve each job's adapter."""
    if engine.per_request_adapters:
        _pooled(engine, loaded, jobs, batch_size)
        return
    for job in jobs:
        if not job.todo():
            continue
        job.begin(len(job.have))
        ids = [encode_rendered(p, loaded.tokenizer) for p in job.prompts]
        for batch in engine.generate(loaded, ids, job.decoding, batch_size=batch_size,
                                     done=lambda i, job=job: job.items[i].id in job.have):
            _write(job, batch)


def _write(job: CellJob, batch: list[Generation]) -> None:
    rows = [sample_row(job.items[g.index], job.prompts[g.index], g, job.provenance) for g in batch
            if job.items[g.index].id not in job.have]
    job.write(rows)
    job.have |= {r["id"] for r in rows}


def _pooled(engine: Engine, loaded: LoadedModel, jobs: Sequence[CellJob], batch_size: int | None) -> None:
    """Every job in one engine call per decoding, each request with its job's adapter. The requests are every
    item of every unfinished job, done ones included (the engine skips them), so the engine's chunks are the
    same in a resumed run as in an uninterrupted one."""
    by_decoding: dict[Decoding, list[tuple[CellJob, int]]] = {}
    for job in (j for j in jobs if j.todo()):
        by_decoding.setdefault(job.decoding, []).extend((job, i) for i in range(len(job.items)))
    for decoding, requests in by_decoding.items():
        for job in dict.fromkeys(job for job, _ in requests):
            job.begin(len(job.have))
        ids = [encode_rendered(job.prompts[i], loaded.tokenizer) for job, i in requests]
        adapters = [job.adapter for job, _ in requests]
        for batch in engine.generate(loaded, ids, decoding, adapters=adapters, batch_size=batch_size,
                                     done=lambda k, r=requests: r[k][0].items[r[k][1]].id in r[k][0].have):
            per_job: dict[CellJob, list[Generation]] = {}
            for g in batch:
                job, i = requests[g.index]
                per_job.setdefault(job, []).append(Generation(i, g.text, g.finish_reason, g.prompt_tokens,
                                                              g.output_tokens))
            for job, generations in per_job.items():
                _write(job, generations)
