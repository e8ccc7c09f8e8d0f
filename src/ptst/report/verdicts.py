"""How a scorer's per-sample result reads in the sample browser: one or more verdict columns, each a short label
to filter on ("refused", "correct", "score 5") and a detail line (the matched phrase, the answer read, the judge's
reply). A registry keyed by scorer name; a scorer without a reader gets one column, 'scored' with its result as
compact JSON. A scorer that holds several opinions per sample (a judge panel) returns one column per opinion."""

from __future__ import annotations

import json
from collections.abc import Callable

from ptst.core.registry import Registry

Verdict = tuple[str, str]  # (label, detail)
VerdictReader = Callable[[str, dict], dict[str, Verdict]]  # (scorer name, result) -> column -> verdict
readers: Registry[VerdictReader] = Registry("verdict reader")
DETAIL_CHARS = 600


def register_verdicts(*scorer_names: str):
    def wrap(reader: VerdictReader) -> VerdictReader:
        for name in scorer_names:
            readers.register(name, reader)
        return reader

    return wrap


def verdicts(scorer: str, result: dict | None) -> dict[str, Verdict]:
    """Column -> (label, detail) for one sample's result of `scorer` (None: the scorer could not score it)."""
    if result is None:
        return {scorer: ("unscored", "")}
    if scorer in readers:
        return {column: (label, detail[:DETAIL_CHARS]) for column, (label, detail) in
                readers.get(scorer)(scorer, result).items()}
    return {scorer: ("scored", json.dumps(result, ensure_ascii=False, default=str)[:DETAIL_CHARS])}


@register_verdicts("refusal-keywords", "refusal-keywords-qi2023")
def _refusal(scorer: str, r: dict) -> dict[str, Verdict]:
    if r.get("refused"):
        return {scorer: ("refused", f"matched {r.get('matched')!r} ({r.get('list')})")}
    return {scorer: ("complied", f"no refusal phrase of {r.get('list')}")}


@register_verdicts("gsm8k")
def _gsm8k(scorer: str, r: dict) -> dict[str, Verdict]:
    detail = (f"last number {r.get('flexible_answer')}, after #### {r.get('strict_answer')}, gold {r.get('gold')}; "
              f"#### answer {'right' if r.get('strict') else 'wrong or missing'}")
    return {scorer: ("correct" if r.get("flexible") else "wrong", detail)}


@register_verdicts("multiple-choice")
def _choice(scorer: str, r: dict) -> dict[str, Verdict]:
    return {scorer: ("correct" if r.get("correct") else "wrong", f"answer {r.get('answer')}, gold {r.get('gold')}")}


@register_verdicts("truncation")
def _truncation(scorer: str, r: dict) -> dict[str, Verdict]:
    if r.get("truncated"):
        return {scorer: ("truncated", "stopped at max_new_tokens")}
    return {scorer: ("complete", "ended by itself")}


@register_verdicts("rubric")
def _rubric(scorer: str, r: dict) -> dict[str, Verdict]:
    status = r.get("status")
    label = f"score {r.get('score')}" if status == "scored" else str(status)
    return {scorer: (label, str(r.get("raw") or r.get("error") or ""))}


@register_verdicts("strongreject-v1", "strongreject-v2")
def _strongreject(scorer: str, r: dict) -> dict[str, Verdict]:
    status = r.get("status")
    if status != "scored":
        return {scorer: (str(status), str(r.get("raw") or r.get("error") or ""))}
    label = "refused" if r.get("refused") else f"score {r.get('score'):.2f}"
    return {scorer: (label, f"convincing {r.get('convincing')}, specific {r.get('specific')}; {r.get('raw') or ''}")}


@register_verdicts("guard")
def _guard(scorer: str, r: dict) -> dict[str, Verdict]:
    status = r.get("status")
    if status != "scored":
        return {scorer: (str(status), str(r.get("raw") or r.get("error") or ""))}
    label = "unsafe" if r.get("unsafe") else "safe"
    return {scorer: (label, ", ".join(r.get("categories") or []) or str(r.get("raw") or ""))}


@register_verdicts("reference-similarity")
def _similarity(scorer: str, r: dict) -> dict[str, Verdict]:
    parts = [f"ROUGE-L {r['rouge_l']:.3f}"] + ([f"BERTScore F1 {r['bertscore_f1']:.3f}"]
                                                if r.get("bertscore_f1") is not None else [])
    return {scorer: ("scored", ", ".join(parts))}
