"""`ptst score FILE.jsonl --scorer NAME`: per-sample scores into a new JSONL, and a summary with intervals."""

from __future__ import annotations

import argparse
import os

from ptst.cli.console import note, out


def register(sub) -> None:
    p = sub.add_parser("score", help="score generated samples (gsm8k, refusal-keywords, rubric, ...)",
                       description="Adds per-sample scores to a new JSONL (the input is never modified) and prints "
                       "n scored, n unscored and each metric with a 95%% interval.")
    p.add_argument("file", help="JSONL written by `ptst generate`")
    p.add_argument("--scorer", required=True, help="gsm8k | refusal-keywords | rubric | reference-similarity | "
                   "multiple-choice")
    p.add_argument("--out", help="scored JSONL to write (default: FILE with .scored.jsonl)")
    g = p.add_argument_group("rubric judge")
    g.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--judge-model", help="model name the endpoint serves")
    g.add_argument("--judge-local", metavar="MODEL", help="judge with a local model instead (offline)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key "
                   "(never logged; default: OPENAI_API_KEY)")
    g.add_argument("--rubric", metavar="FILE", help="a rubric with {instruction} and {response} slots")
    g.add_argument("--concurrency", type=int, default=8, help="most requests in flight (default: 8)")
    g.add_argument("--max-retries", type=int, default=4, help="retries per request on 429/5xx/timeouts (default: 4)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")
    g.add_argument("--backoff-base", type=float, default=0.5, help="first retry delay in seconds (default: 0.5)")
    g.add_argument("--judge-max-tokens", type=int, default=256, help="most tokens per judge reply (default: 256)")
    g.add_argument("--cache", metavar="FILE", help="judge cache (default: $PTST_HOME/judge_cache.sqlite)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the judge cache")
    g.add_argument("--dry-run", action="store_true", help="count the judge calls (and cost) and stop")
    g.add_argument("--price-per-1k", type=float, help="USD per 1,000 tokens, for the --dry-run estimate")
    p.add_argument("--bertscore-model", help="reference-similarity: also BERTScore with this model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.cli.checks import check_judge_answered, check_replaceable_output
    from ptst.core.errors import PtstError
    from ptst.score import read_samples, score_file, scorers

    factory = scorers.get(args.scorer)
    for name in ("concurrency", "max_retries", "judge_max_tokens"):
        if getattr(args, name) < (0 if name == "max_retries" else 1):
            raise PtstError(f"--{name.replace('_', '-')} must be at least {0 if name == 'max_retries' else 1}")
    if args.timeout <= 0 or args.backoff_base < 0:
        raise PtstError("--timeout must be more than 0 seconds" if args.timeout <= 0 else
                        "--backoff-base must be 0 seconds or more")
    target = args.out or _default_out(args.file)
    if not args.dry_run:
        check_replaceable_output(target, args.file)  # before any judge call
    judge = _judge(args) if args.scorer == "rubric" else None
    scorer = factory(judge=judge, rubric=args.rubric, bertscore_model=args.bertscore_model)
    if args.dry_run:
        return _dry_run(args, scorer, read_samples(args.file))
    summary = score_file(args.file, scorer, target)
    if judge is not None:
        check_judge_answered(target, summary, args.base_url or args.judge_local)
    _print_summary(summary)
    if judge is not None:
        note(f"judge calls made: {judge.calls}")
    note(f"scored samples written to {target}")
    return 0


def _judge(args):
    from ptst.core.paths import ptst_home
    from ptst.score.judges import make_judge
    from ptst.store.judge_cache import JudgeCache

    cache = None if args.no_cache else JudgeCache(args.cache or ptst_home() / "judge_cache.sqlite")
    options = {"max_tokens": args.judge_max_tokens}
    if args.base_url:
        options.update(api_key_env=args.api_key_env, concurrency=args.concurrency, max_retries=args.max_retries,
                       timeout=args.timeout, backoff_base=args.backoff_base)
    return make_judge(base_url=args.base_url, judge_model=args.judge_model, judge_local=args.judge_local,
                      cache=cache, **options)


def _dry_run(args, scorer, rows) -> int:
    if args.scorer != "rubric":
        note(f"{args.scorer} makes no judge calls; {len(rows)} samples would be scored")
        return 0
    prompts = scorer.prompts(rows)
    cached = [r is not None for r in scorer.judge.cached_replies(prompts, scorer.rubric_hash)]
    todo = [p for p, hit in zip(prompts, cached, strict=True) if not hit]
    line = f"{len(todo)} judge calls would be made ({sum(cached)} of {len(prompts)} answered from the cache)"
    if args.price_per_1k is not None:
        tokens = sum(len(p[2]) // 4 + args.judge_max_tokens for p in todo)  # about 4 characters a token
        line += f"; about {tokens:,} tokens, about ${tokens / 1000 * args.price_per_1k:.2f}"
    out().print(line)
    return 0


def _default_out(path: str) -> str:
    stem = path[:-6] if path.endswith(".jsonl") else path
    return f"{stem}.scored.jsonl"


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['scorer']}: {os.path.basename(summary['input'])}", title_justify="left")
    for col in ("metric", "value", "95% interval", "n"):
        table.add_column(col)
    for m in summary["metric_objects"]:
        pct = m.kind == "rate"
        fmt = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.3f}")
        table.add_row(m.name, fmt(m.value), f"[{fmt(m.low)}, {fmt(m.high)}]", str(m.n))
    out().print(table)
    out().print(f"{summary['n']} samples: {summary['n_scored']} scored, {summary['n_unscored']} unscored")
