"""Run a study: train every (template, seed), generate every cell, score, and keep it all in the store.

Work is skipped when the store says it is done, so running the same command again after a kill continues where
it stopped. Training runs happen in a temporary directory renamed into place when finished; generation commits
each finished batch; scores are committed per cell and scorer.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.hashing import canonical_json, content_hash
from ptst.generate.run import sample_row
from ptst.models import load_model
from ptst.models.engine import Decoding, generate
from ptst.score import scorers
from ptst.store.study_store import StudyStore
from ptst.study.config import PREFLIGHT, StudyConfig
from ptst.study.manifest import write_manifest
from ptst.study.plan import Cell, Plan, TrainingRun, Variant, build_plan, cells_for, estimated_steps, eval_items
from ptst.study.progress import StudyProgress, trainer_callback
from ptst.templates import get_template, render_prompt
from ptst.templates.render import encode_rendered
from ptst.train import TrainConfig, run_training


def run_study(cfg: StudyConfig, run_dir: str | Path, *, allow_extend: bool = False, progress: bool = True) -> Plan:
    run_dir = Path(run_dir)
    if cfg.engine == "vllm":
        from ptst.models.vllm_engine import require_vllm

        require_vllm()  # before hours of training, not after
    cfg = resolve_preflight(cfg, run_dir, progress=progress)
    plan = build_plan(cfg)
    store = StudyStore(run_dir)
    check_config(store, cfg, allow_extend, run_dir)
    write_manifest(run_dir, cfg, plan, started=time.time())
    _register(store, plan)
    step_units = cfg.train.hyper.batch_size if cfg.train else 0
    total = sum(plan.items[c.eval_set.name] for c in plan.cells)
    total += len(plan.trainings) * estimated_steps(cfg, plan.train_items) * step_units
    with StudyProgress(total, enabled=progress) as bar:
        jobs = []
        for variant in plan.variants:
            if variant.training is not None:
                _ensure_trained(cfg, store, run_dir, variant.training, bar, step_units)
                jobs += [(ckpt, cells_for(cfg, ckpt)) for ckpt in _checkpoint_variants(store, run_dir,
                                                                                      variant.training)]
            jobs.append((variant, plan.cells_of(variant)))
            if cfg.engine == "ptst":  # evaluate as soon as trained; vLLM takes every variant at once
                for v, cells in jobs:
                    _evaluate(cfg, store, v, cells, bar, run_dir)
                jobs = []
        if jobs:
            _evaluate_with_vllm(cfg, store, jobs, bar, run_dir)
    return plan


def resolve_preflight(cfg: StudyConfig, run_dir: Path, *, progress: bool = True) -> StudyConfig:
    """Replace the placeholder `preflight` in the template lists by the pre-flight's recommendation (run, or
    resumed, in RUN_DIR/preflight). Without a recommendation the safest acceptable candidate is used, with the
    pre-flight's warning."""
    lists = [cfg.test_templates, cfg.train.templates if cfg.train else []]
    if not any(PREFLIGHT in names for names in lists):
        return cfg
    from ptst.study.preflight import PreflightOptions, run_preflight

    summary = run_preflight(PreflightOptions(model=cfg.model, batch_size=cfg.batch_size, dtype=cfg.dtype,
                                             device=cfg.device), run_dir / "preflight", progress=progress)
    chosen = summary["recommended"] or summary["rows"][0]["template"]
    if not summary["protects"]:
        import sys

        sys.stderr.write(f"ptst: WARNING: {summary['verdict']}; using {chosen}\n")
    data = cfg.model_dump()

    def swap(names: list[str]) -> list[str]:
        return list(dict.fromkeys(chosen if n == PREFLIGHT else n for n in names))

    data["test_templates"] = swap(data["test_templates"])
    if data["train"]:
        data["train"]["templates"] = swap(data["train"]["templates"])
    return StudyConfig.model_validate(data)


def check_config(store: StudyStore, cfg: StudyConfig, allow_extend: bool, run_dir: Path) -> None:
    """A run directory belongs to one config; a changed one is refused (naming the differences) unless extending."""
    new = cfg.model_dump()
    old_text = store.get_meta("config")
    if old_text is not None:
        old = json.loads(old_text)
        for key, field in StudyConfig.model_fields.items():  # a setting added to ptst later, at its default,
            if key not in old and new.get(key) == field.default:  # changes nothing in a run made before it
                old[key] = new[key]
        diffs = config_differences(old, new)
        if diffs and not allow_extend:
            shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
            raise PtstError(f"{run_dir} was made with a different config ({shown}); use another --out, or "
                            "--allow-extend to add only the new cells")
    store.set_meta("config", canonical_json(new))
    store.set_meta("config_hash", content_hash(new))


def config_differences(old, new, prefix: str = "") -> list[str]:
    """Dotted paths whose values differ, as 'path: old -> new'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += config_differences(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in config_differences(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [f"{prefix}: {json.dumps(old)} -> {json.dumps(new)}"]


def _register(store: StudyStore, plan: Plan) -> None:
    for t in plan.trainings:
        store.add_training(t.id, t.template, t.seed, t.spec)
    for v in plan.variants:
        _add_variant(store, v)
    for c in plan.cells:
        store.add_cell(c.id, c.variant.id, c.test_template, c.eval_set.name, c.spec, plan.items[c.eval_set.name])
    store.set_meta("active_cells", json.dumps(sorted(c.id for c in plan.cells)))


def _add_variant(store: StudyStore, v: Variant, adapter: str | None = None) -> None:
    t = v.training
    store.add_variant(v.id, t.id if t else None, v.label, t.template if t else None, t.seed if t else None, v.step,
                      adapter)


def _ensure_trained(cfg: StudyConfig, store: StudyStore, run_dir: Path, run: TrainingRun, bar, step_units) -> None:
    final = run_dir / "train" / run.dirname
    if store.training_done(run.id):
        return
    if (final / "ptst_train.json").is_file():  # killed between the rename and the store update
        store.finish_training(run.id, str(final), json.loads((final / "ptst_train.json").read_text()))
        return
    tmp = run_dir / "train" / f".{run.dirname}.partial"
    shutil.rmtree(tmp, ignore_errors=True)  # an interrupted run restarts: same seed, same result
    bar.note(f"training {run.template} seed {run.seed} -> {final}")
    train = cfg.train
    tcfg = TrainConfig(model=cfg.model, data=train.data, data_file=train.data_file, input_field=train.input_field,
                       answer_field=train.answer_field, split=train.split, limit=train.limit,
                       data_seed=train.data_seed, template=run.template, template_file=cfg.template_files,
                       markup=cfg.markup, system_policy=cfg.system_policy, mix=train.mix, mix_file=train.mix_file,
                       out=str(tmp), seed=run.seed, save_steps=train.eval_every_steps, logging_steps=1,
                       dtype=cfg.dtype, device=cfg.device, **train.hyper.model_dump())
    record = run_training(tcfg, log=bar.note, callbacks=[trainer_callback(bar, step_units)], quiet=True)
    tmp.rename(final)
    store.finish_training(run.id, str(final), record)


def _checkpoint_variants(store: StudyStore, run_dir: Path, run: TrainingRun) -> list[Variant]:
    final = run_dir / "train" / run.dirname
    out = []
    for ckpt in sorted(final.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        variant = Variant(content_hash({"training": run.id, "step": int(ckpt.name.split("-")[1])}), run.template,
                          run, int(ckpt.name.split("-")[1]))
        _add_variant(store, variant, str(ckpt))
        out.append(variant)
    return out


def _evaluate(cfg: StudyConfig, store: StudyStore, variant: Variant, cells: list[Cell], bar, run_dir: Path):
    todo = [c for c in cells if not store.cell_generated(c.id)]
    for c in cells:
        store.add_cell(c.id, variant.id, c.test_template, c.eval_set.name, c.spec, len(eval_items(c.eval_set)))
    _activate(store, cells)
    if todo:
        adapter = _adapter_path(run_dir, variant)
        loaded = load_model(cfg.model, adapter=adapter, dtype=cfg.dtype, device=cfg.device)
        for cell in todo:
            _generate_cell(cfg, store, cell, loaded, adapter, bar)
    for cell in cells:
        _score_cell(cfg, store, cell, bar)


def _evaluate_with_vllm(cfg: StudyConfig, store: StudyStore, jobs: list[tuple[Variant, list[Cell]]], bar,
                        run_dir: Path) -> None:
    """Every unfinished cell of every variant in one vLLM engine: the base model once, each variant's LoRA
    adapter attached to its own requests (many checkpoints and seeds served together)."""
    from ptst.models import load_tokenizer
    from ptst.models.engine import Generation, stop_token_ids
    from ptst.models.load import resolve_model_path
    from ptst.models.vllm_engine import generate_vllm

    tok = load_tokenizer(cfg.model)
    todo: dict[str, list] = {}  # decoding -> [(cell, adapter, item, prompt)]
    for variant, cells in jobs:
        for c in cells:
            store.add_cell(c.id, variant.id, c.test_template, c.eval_set.name, c.spec, len(eval_items(c.eval_set)))
        _activate(store, cells)
        adapter = _adapter_path(run_dir, variant)
        for cell in (c for c in cells if not store.cell_generated(c.id)):
            template, have = get_template(cell.test_template), store.sample_ids(cell.id)
            for item in eval_items(cell.eval_set):
                if item.id not in have:
                    prompt = render_prompt(template, item.input, tokenizer=tok, markup=cfg.markup,
                                           system_policy=cfg.system_policy)
                    todo.setdefault(canonical_json(cell.decoding), []).append((cell, adapter, item, prompt))
    for key, rows in todo.items():
        decoding = Decoding(**json.loads(key))
        bar.stage(f"generating {len(rows)} samples with vLLM", len(rows))
        ids = [encode_rendered(p, tok) for _, _, _, p in rows]
        outs = generate_vllm(resolve_model_path(cfg.model), ids, stops=stop_token_ids(tok),
                             max_new_tokens=decoding.max_new_tokens, temperature=decoding.temperature,
                             top_p=decoding.top_p, top_k=decoding.top_k, seed=decoding.seed,
                             adapters=[a for _, a, _, _ in rows], dtype=cfg.dtype)
        by_cell: dict[str, list[dict]] = {}
        for (cell, adapter, item, prompt), n_prompt, (tokens, reason) in zip(rows, ids, outs, strict=True):
            g = Generation(0, tok.decode(tokens, skip_special_tokens=True), reason, len(n_prompt), len(tokens))
            common = _provenance(cfg, cell, adapter, decoding, dtype=cfg.dtype, engine="vllm")
            by_cell.setdefault(cell.id, []).append(sample_row(item, prompt, g, common))
        for cell_id, samples in by_cell.items():
            store.add_samples(cell_id, samples)
            store.mark_generated(cell_id)
        bar.advance(len(rows), len(rows))
    for _, cells in jobs:
        for cell in cells:
            _score_cell(cfg, store, cell, bar)


def _activate(store: StudyStore, cells: list[Cell]) -> None:
    active = set(json.loads(store.get_meta("active_cells") or "[]")) | {c.id for c in cells}
    store.set_meta("active_cells", json.dumps(sorted(active)))


def _adapter_path(run_dir: Path, variant: Variant) -> str | None:
    if variant.training is None:
        return None
    final = run_dir / "train" / variant.training.dirname
    return str(final / f"checkpoint-{variant.step}") if variant.step is not None else str(final)


def _generate_cell(cfg: StudyConfig, store: StudyStore, cell: Cell, loaded, adapter, bar) -> None:
    items = eval_items(cell.eval_set)
    template = get_template(cell.test_template)
    prompts = [render_prompt(template, it.input, tokenizer=loaded.tokenizer, markup=cfg.markup,
                             system_policy=cfg.system_policy) for it in items]
    have = store.sample_ids(cell.id)
    label = f"{cell.variant.label}{'' if cell.variant.step is None else f'@{cell.variant.step}'}"
    bar.stage(f"generating {label} -> {cell.test_template} on {cell.eval_set.name}", len(items))
    bar.advance(len(have), len(have) if cell.variant.step is None else 0)
    decoding = Decoding(**cell.decoding)
    common = _provenance(cfg, cell, adapter, decoding, dtype=loaded.dtype, engine="ptst")
    for batch in generate(loaded, prompts, decoding, batch_size=cfg.batch_size,
                          done=lambda i, have=have: items[i].id in have):
        rows = []
        for g in batch:
            item, prompt = items[g.index], prompts[g.index]
            if item.id in have:
                continue
            rows.append(sample_row(item, prompt, g, common))
        store.add_samples(cell.id, rows)
        have |= {r["id"] for r in rows}
        bar.advance(len(rows), len(rows) if cell.variant.step is None else 0)
    store.mark_generated(cell.id)


def _provenance(cfg: StudyConfig, cell: Cell, adapter: str | None, decoding: Decoding, *, dtype: str,
                engine: str) -> dict:
    """What every sample of a cell records about how it was made (beside its exact prompt)."""
    template = get_template(cell.test_template)
    return {"template": template.name, "template_hash": template.identity, "model": cfg.model, "adapter": adapter,
            "decoding": decoding.model_dump(), "dtype": dtype, "engine": engine, "dataset": cell.eval_set.data,
            "cell": cell.id}


def _score_cell(cfg: StudyConfig, store: StudyStore, cell: Cell, bar) -> None:
    samples = store.samples(cell.id)
    for name in cell.eval_set.scorers:
        done = store.scored_ids(cell.id, name)
        rows = [s for s in samples if s["id"] not in done]
        if not rows:
            continue
        scorer = make_scorer(cfg, name)
        results = scorer.score(rows)
        store.add_scores(cell.id, name, [(r["id"], res) for r, res in zip(rows, results, strict=True)])


def make_scorer(cfg: StudyConfig, name: str):
    factory = scorers.get(name)
    if name != "rubric":
        return factory()
    from ptst.core.paths import ptst_home
    from ptst.score.judges import make_judge
    from ptst.store.judge_cache import JudgeCache

    j = cfg.judge
    options = {"api_key_env": j.api_key_env, "concurrency": j.concurrency, "max_retries": j.max_retries,
               "timeout": j.timeout} if j.base_url else {}
    judge = make_judge(base_url=j.base_url, judge_model=j.judge_model, judge_local=j.judge_local,
                       cache=JudgeCache(ptst_home() / "judge_cache.sqlite"), **options)
    return factory(judge=judge, rubric=j.rubric, progress=False)
