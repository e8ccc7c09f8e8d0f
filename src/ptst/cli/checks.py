"""Checks a command runs before it loads a model or writes anything: every name in a study that can be checked
offline, and output files that already exist. Each failure is a PtstError naming the config key or flag."""

from __future__ import annotations

from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import read_jsonl_rows
from ptst.core.paths import check_output_file
from ptst.core.validation import validate_record
from ptst.store.records import StoredSample

# What every row `ptst generate` writes has; a file without them is not a samples file ptst may append to.
SAMPLE_KEYS = ("id", "output", "prompt", "template_hash")


def check_study(cfg, where: str) -> None:
    """Scorers, embedded model names, data sets, templates and judge settings of a study config, by the key the
    user wrote (`evals[1].scorers`), before any run directory exists."""
    from ptst.data import get_dataset
    from ptst.score import scorers
    from ptst.templates import get_template, load_template_file

    _check_model(cfg.model, f"{where}: model")
    for path in cfg.template_files:
        load_template_file(path)
    names = [("test_templates", t) for t in cfg.test_templates]
    names += [("train.templates", t) for t in (cfg.train.templates if cfg.train else [])]
    names += [(f"row_tests.{row}", t) for row, tests in cfg.row_tests.items() for t in tests]
    for key, name in names:
        if name != "preflight":
            _named(f"{where}: {key}", get_template, name)
    for i, ev in enumerate(cfg.evals):
        _named(f"{where}: evals[{i}] ({ev.name}).data", get_dataset, ev.data)
        for name in ev.scorers:
            _named(f"{where}: evals[{i}] ({ev.name}).scorers", scorers.get, name)
        _check_data_file(ev.model_copy(update={"plus": []}), f"{where}: evals[{i}] ({ev.name}).data_file")
        for j, part in enumerate(ev.plus):
            _named(f"{where}: evals[{i}] ({ev.name}).plus[{j}].data", get_dataset, part.data)
            _check_data_file(part, f"{where}: evals[{i}] ({ev.name}).plus[{j}].data_file")
    if cfg.train:
        _named(f"{where}: train.data", get_dataset, cfg.train.data)
        _check_data_file(cfg.train, f"{where}: train.data_file")
        if cfg.train.mix:
            _named(f"{where}: train.mix", get_dataset, cfg.train.mix.partition(":")[0])
        for i, baseline in enumerate(cfg.train.baselines or []):
            _check_baseline_mix(baseline, f"{where}: train.baselines[{i}] ({baseline.name}).mix")
    if cfg.judge:
        cfg.judge.check(f"{where}: judge")
    for scorer, judge in cfg.judges.items():
        _named(f"{where}: judges", scorers.get, scorer)
        judge.check(f"{where}: judges.{scorer}")


def prepare_scorers(cfg, where: str) -> None:
    """Build every scorer a study names that needs no judge, before a run spends any compute: one that needs an
    instrument from elsewhere (Qi et al.'s prefix list, fetched once and cached) fails here, naming the key, not
    after hours of generation. (A dry run does not fetch anything.)"""
    from ptst.score import scorers

    for i, ev in enumerate(cfg.evals):
        for name in ev.scorers:
            factory = scorers.get(name)
            if not getattr(factory, "needs_judge", False):
                _named(f"{where}: evals[{i}] ({ev.name}).scorers", lambda _, f=factory: f(), name)


def _check_baseline_mix(baseline, where: str) -> None:
    """A baseline's refusal data: a registered refusal set, NAME or NAME:N (checked here, not hours later when its
    first run starts training)."""
    from ptst.data import get_dataset

    name, _, count = baseline.mix.partition(":")
    role = _named(where, get_dataset, name).role
    if role != "refusal":
        raise PtstError(f"{where}: {name} has role {role}; mix in a refusal data set")
    if count and not count.isdigit():
        raise PtstError(f"{where}: {baseline.mix!r}: expected NAME or NAME:N with N a whole number")


def _check_model(ref: str, where: str) -> None:
    if ref.startswith("embedded:"):
        from ptst.models.embedded import embedded

        _named(where, embedded.get, ref)


def _check_data_file(ref, where: str) -> None:
    """A data file that is there must read cleanly (one that is not may be on the machine that runs the study:
    a dry run counts it from its published size, a real run fails on it before any work)."""
    if ref.data_file and Path(ref.data_file).exists():
        _named(where, lambda _: ref.load(), ref.data_file)


def _named(where: str, check, name):
    try:
        return check(name)
    except PtstError as err:
        raise PtstError(f"{where}: {err}") from None


def check_generate(cfg) -> None:
    """`ptst generate`: the model name, the template, the adapter directory and --out, before loading anything."""
    from ptst.models.load import check_adapter_dir
    from ptst.templates import get_template, load_template_file

    _check_model(cfg.model, "--model")
    for path in cfg.template_file:
        load_template_file(path)
    template = _named("--template", get_template, cfg.template)
    if cfg.adapter:
        check_adapter_dir(cfg.adapter)
    decoding = {k: getattr(cfg, k) for k in ("max_new_tokens", "temperature", "top_p", "top_k", "seed")}
    check_samples_out(cfg.out, {"template_hash": template.identity, "model": cfg.model, "adapter": cfg.adapter,
                                "decoding": decoding})


def check_samples_out(path: str | Path, expected: dict) -> None:
    """`ptst generate --out`: a new file, or a ptst samples file made with the same settings (`expected`: the
    values of template_hash, model, adapter, decoding this run will record) that resuming may append to."""
    p = check_output_file(path)
    if not p.exists() or p.stat().st_size == 0:
        return
    try:
        rows = list(read_jsonl_rows(p))
    except PtstError as err:
        raise PtstError(f"--out {path}: not a ptst samples file ({_after_path(err, p)}); choose another --out "
                        "(the file was not changed)") from None
    first_bad = next((r for r in rows if any(k not in r for k in SAMPLE_KEYS)), None)
    if not rows or first_bad is not None:
        found = ", ".join(list(first_bad or {})[:6]) or "no complete line"
        raise PtstError(f"--out {path}: not a ptst samples file (rows need {', '.join(SAMPLE_KEYS)}; found "
                        f"{found}); choose another --out (the file was not changed)")
    for n, row in enumerate(rows, 1):
        try:
            validate_record(StoredSample, row, f"row {n}")
        except PtstError as err:
            raise PtstError(f"--out {path}: not a ptst samples file ({err}); choose another --out (the file was "
                            "not changed)") from None
    for key, value in expected.items():
        if rows[0].get(key) != value:
            raise PtstError(f"--out {path}: holds samples with a different {key} ({rows[0].get(key)!r}, this run "
                            f"{value!r}); write to another --out (the file was not changed)")


def check_replaceable_output(path: str | Path, source: str | Path, scorer: str, settings: dict) -> None:
    """`ptst score --out`: a new file, or the scored output ptst wrote earlier for the same input with the same
    scorer and settings (its summary names them). Anything else, another scorer's output included, was written by
    another command and is never replaced."""
    import json

    p = check_output_file(path)
    if not p.exists():
        return
    summary = Path(f"{p}.summary.json")
    try:
        earlier = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
    except (ValueError, UnicodeDecodeError):
        earlier = {}
    earlier = earlier if isinstance(earlier, dict) else {}
    if "input" not in earlier or Path(str(earlier["input"])).resolve() != Path(source).resolve():
        raise PtstError(f"--out {path}: exists and is not ptst's scored output of {source}; choose another --out "
                        "(the file was not changed)")
    if earlier.get("scorer") != scorer:
        raise PtstError(f"--out {path}: holds {earlier.get('scorer')} scores of {source}, not {scorer}'s; choose "
                        "another --out (the file was not changed)")
    changed = [k for k in settings if (earlier.get("settings") or {}).get(k) != settings[k]]
    if changed:
        key = changed[0]
        raise PtstError(f"--out {path}: holds {scorer} scores made with another {key} "
                        f"({(earlier.get('settings') or {}).get(key)!r}, this run {settings[key]!r}); choose another "
                        "--out (the file was not changed)")


def check_scores_complete(run_dir: str | Path) -> None:
    """After `ptst run`: cells a judge could not score (every call failed) make the run a failure, named."""
    from ptst.store.study_store import StudyStore

    store = StudyStore(run_dir)
    try:
        failed = list(store.failed_scores().values())
    finally:
        store.close()
    if failed:
        calls = sum(f["failed"] for f in failed)
        raise PtstError(f"{run_dir}: {len(failed)} cell(s) not fully scored by {failed[0]['scorer']}: {calls} judge "
                        f"call(s) failed ({failed[0]['error']}); the report shows them as failed: check the judge "
                        "settings and run the same command again to score them")


def _after_path(err: PtstError, path: Path) -> str:
    return str(err).removeprefix(f"{path}: ")
