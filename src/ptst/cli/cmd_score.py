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
    add_config_options(p, ScoreConfig, skip=("judges",))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.cli.checks import check_replaceable_output
    from ptst.score import read_samples, score_file
    from ptst.score.build import ScorerSet
    from ptst.score.config import ScoreConfig
    from ptst.score.run import panel_name, panel_settings

    cfg = resolve_config(ScoreConfig, args)
    built = ScorerSet(cfg.judge_for, bertscore_model=cfg.bertscore_model)
    panel = [built.get(name) for name in cfg.scorer]  # every judge and instrument checked before any call
    name = panel_name(panel)
    target = cfg.out or default_out(args.file, name)
    needs = dict.fromkeys(n for s in cfg.scorer for n in built.factory(s).needs)
    rows = read_samples(args.file, scorer=name, needs=list(needs))  # every line checked, before any judge
    if cfg.dry_run:
        for scorer in panel:
            _dry_run(cfg, scorer, built.judge_of(scorer.name), rows)
        return 0
    check_replaceable_output(target, args.file, name, panel_settings(panel))  # before any call
    summary = score_file(args.file, panel, target, rows=rows)
    failed = [e for e in summary["entries"] if e.get("nothing_scored")]
    if failed:  # every output is written; a scorer that scored nothing is a failure, never a table of empty rates
        entry = failed[0]
        judge = built.judge_of(entry["scorer"])
        judged = None if judge is None else (cfg.judge_for(entry["scorer"]).describe(), judge.calls)
        raise PtstError(_nothing_scored({**summary, **entry}, judged))
    for entry in summary["entries"]:
        _print_summary({**summary, **entry})
    judges = list(dict.fromkeys(j for s in cfg.scorer if (j := built.judge_of(s)) is not None))
    for judge in judges:
        note(f"judge calls made: {judge.calls}" + (f" ({judge.model_name})" if len(judges) > 1 else ""))
    note(f"scored samples written to {target}" + (f"; compare the judges: ptst audit agreement {target}"
                                                   if len(panel) > 1 else ""))
    return 0


def _nothing_scored(summary: dict, judged: tuple[str, int] | None) -> str:
    """The one line for a scorer that scored no sample (`judged`: its judge and the calls it made, if any): a
    failure (exit 2), never a table of empty rates."""
    from ptst.core.redact import redact_url

    line = f"{summary['scorer']}: nothing was scored: {summary['nothing_scored']}"
    if judged is None:
        return f"{line}; the {summary['n']} unscored row(s) are in {summary['output']}"
    line = f"judge {redact_url(judged[0])}: {line}"
    if summary["n_failed"]:
        return f"{line}: check --base-url, --judge-model and --api-key-env"
    return f"{line}; the replies are kept in {summary['output']} ({judged[1]} judge calls made)"


def _dry_run(cfg, scorer, judge, rows) -> int:
    if judge is None:
        note(f"{scorer.name} makes no judge calls; {len(rows)} samples would be scored")
        return 0
    requests = scorer.requests(rows)
    cached = [r is not None for r in judge.cached_replies(requests, scorer.max_tokens)]
    todo = [r for r, hit in zip(requests, cached, strict=True) if not hit]
    line = (f"{scorer.name}: " * (len(cfg.scorer) > 1) + f"{len(todo)} judge calls would be made ({sum(cached)} "
            f"of {len(requests)} answered from the cache)")
    if cfg.price_per_1k is not None:
        limit = judge.effective_max_tokens(scorer.max_tokens) or 0  # an endpoint's own limit is not known here
        tokens = sum(sum(len(c) for _, c in r.messages) // 4 + limit for r in todo)  # about 4 characters a token
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
    declined = f", {summary['n_judge_refused']} the judge declined to grade" if summary.get("n_judge_refused") else ""
    out().print(f"{summary['n']} samples: {summary['n_scored']} scored, {summary['n_unscored']} unscored{declined}")
