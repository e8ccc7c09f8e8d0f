"""`ptst score FILE.jsonl --scorer NAME`: per-sample scores into a new JSONL, and a summary with intervals."""

from __future__ import annotations

import argparse
import os

from ptst.cli.commands import command
from ptst.cli.console import note, out
from ptst.cli.options import add_config_options, resolve_config
from ptst.core.errors import PtstError


@command("score")
def register(sub) -> None:
    from ptst.score.config import ScoreConfig

    p = sub.add_parser("score", help="score generated samples (gsm8k, refusal-keywords, rubric, ...)",
                       description="Adds per-sample scores to a new JSONL (the input is never modified) and prints "
                       "n scored, n unscored and each metric with a 95% interval.")
    p.add_argument("file", help="JSONL written by `ptst generate`")
    add_config_options(p, ScoreConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.cli.checks import check_replaceable_output
    from ptst.score import read_samples, score_file, scorers
    from ptst.score.config import ScoreConfig

    cfg = resolve_config(ScoreConfig, args)
    factory = scorers.get(cfg.scorer)
    target = cfg.out or default_out(args.file, cfg.scorer)
    rows = read_samples(args.file, scorer=cfg.scorer, needs=factory.needs)  # every line checked, before any judge
    judge = _judge(cfg) if cfg.scorer == "rubric" else None
    scorer = factory(judge=judge, rubric=cfg.rubric, bertscore_model=cfg.bertscore_model)
    if cfg.dry_run:
        return _dry_run(cfg, scorer, rows)
    check_replaceable_output(target, args.file, scorer.name, getattr(scorer, "settings", {}))  # before any call
    summary = score_file(args.file, scorer, target, rows=rows)
    if summary.get("nothing_scored"):
        judged = None if judge is None else (cfg.base_url or cfg.judge_local, judge.calls)
        raise PtstError(_nothing_scored(summary, judged))
    _print_summary(summary)
    if judge is not None:
        note(f"judge calls made: {judge.calls}")
    note(f"scored samples written to {target}")
    return 0


def _nothing_scored(summary: dict, judged: tuple[str, int] | None) -> str:
    """The one line for a run that scored no sample (`judged`: the judge and the calls it made, if any): a failure
    (exit 2), never a table of empty rates."""
    from ptst.core.redact import redact_url

    line = f"{summary['scorer']}: nothing was scored: {summary['nothing_scored']}"
    if judged is None:
        return f"{line}; the {summary['n']} unscored row(s) are in {summary['output']}"
    line = f"judge {redact_url(judged[0])}: {line}"
    if summary["n_failed"]:
        return f"{line}: check --base-url, --judge-model and --api-key-env"
    return f"{line}; the replies are kept in {summary['output']} ({judged[1]} judge calls made)"


def _judge(cfg):
    from ptst.core.paths import ptst_home
    from ptst.score.judges import make_judge
    from ptst.store.judge_cache import JudgeCache

    cache = None if cfg.no_cache else JudgeCache(cfg.cache or ptst_home() / "judge_cache.sqlite")
    options = {"max_tokens": cfg.judge_max_tokens}
    if cfg.base_url:
        options.update(api_key_env=cfg.api_key_env, concurrency=cfg.concurrency, max_retries=cfg.max_retries,
                       timeout=cfg.timeout, backoff_base=cfg.backoff_base)
    return make_judge(base_url=cfg.base_url, judge_model=cfg.judge_model, judge_local=cfg.judge_local,
                      cache=cache, **options)


def _dry_run(cfg, scorer, rows) -> int:
    if cfg.scorer != "rubric":
        note(f"{cfg.scorer} makes no judge calls; {len(rows)} samples would be scored")
        return 0
    prompts = scorer.prompts(rows)
    cached = [r is not None for r in scorer.judge.cached_replies(prompts, scorer.rubric_hash)]
    todo = [p for p, hit in zip(prompts, cached, strict=True) if not hit]
    line = f"{len(todo)} judge calls would be made ({sum(cached)} of {len(prompts)} answered from the cache)"
    if cfg.price_per_1k is not None:
        tokens = sum(len(p[2]) // 4 + scorer.judge.max_tokens for p in todo)  # about 4 characters a token
        line += f"; about {tokens:,} tokens, about ${tokens / 1000 * cfg.price_per_1k:.2f}"
    out().print(line)
    return 0


def default_out(path: str, scorer: str) -> str:
    """FILE.jsonl -> FILE.SCORER.scored.jsonl: each scorer's output has its own name, so scoring one file with two
    scorers keeps both."""
    stem = path[:-6] if path.endswith(".jsonl") else path
    return f"{stem}.{scorer}.scored.jsonl"


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['scorer']}: {os.path.basename(summary['input'])}", title_justify="left")
    for col in ("metric", "value", "95% interval", "n"):
        table.add_column(col)
    for m in summary["metric_objects"]:
        pct = m.kind == "rate"
        fmt = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.3f}")
        if m.n:
            table.add_row(m.name, fmt(m.value), f"[{fmt(m.low)}, {fmt(m.high)}]", str(m.n))
        else:
            table.add_row(m.name, "none scored", "-", "0")
    out().print(table)
    out().print(f"{summary['n']} samples: {summary['n_scored']} scored, {summary['n_unscored']} unscored")
