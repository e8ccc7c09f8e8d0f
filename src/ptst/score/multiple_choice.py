"""Multiple-choice accuracy (ARC-style, the paper's OpenOrca evaluation): the letter the reply picks equals the
reference letter. A reply picks a letter by 'answer is (B)', 'Answer: B', by ending on one ('..., so C.'), or by
starting with 'B' / 'B.' / '(B)'. Letters are capitals only ('(b)' in parentheses also counts): a lowercase 'a' or
'e' is a word ('the answer is a process', 'Answer: e.g.'), never a choice."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ptst.score.base import MetricInfo, register_scorer, scored
from ptst.score.metrics import Metric, rate
from ptst.store.records import Binary, ScoreResult

_LETTER = r"(?:\(([A-Ea-e])\)|\**([A-E])(?!\w)\**)"
_PATTERNS = (
    re.compile(r"(?i:answer)\s*(?:(?i:is)|:)?\s*[:\-]?\s*" + _LETTER),
    re.compile(r"(?:^|[\s,:])" + _LETTER + r"[.!]?\s*$"),
    re.compile(r"^\s*" + _LETTER + r"(?:[).:]|\s|$)"),
)


def extract_choice(reply: str) -> str | None:
    for pattern in _PATTERNS:
        m = pattern.search(reply)
        if m:
            return (m.group(1) or m.group(2)).upper()
    return None


class ChoiceResult(ScoreResult):
    gold: str
    answer: str | None
    correct: Binary


class MultipleChoiceScorer:
    name = "multiple-choice"

    def score(self, rows: Sequence[dict]) -> list[dict | None]:
        out: list[dict | None] = []
        for row in rows:
            gold = (row.get("reference") or "").strip().upper()
            if not gold:
                out.append(None)
                continue
            pred = extract_choice(row["output"])
            out.append({"gold": gold, "answer": pred, "correct": int(pred == gold)})
        return out

    @staticmethod
    def summarize(results: Sequence[dict | None]) -> list[Metric]:
        return [rate("accuracy", [r["correct"] for r in scored(results)])]


@register_scorer("multiple-choice", MultipleChoiceScorer.summarize, metrics=(
    MetricInfo("accuracy", "accuracy", higher_is_better=True, grid_roles=("task",)),), result=ChoiceResult)
def make_multiple_choice(**_) -> MultipleChoiceScorer:
    return MultipleChoiceScorer()
