"""Multiple-choice accuracy (ARC-style, the paper's OpenOrca evaluation): the letter the reply picks equals the
reference letter. A reply picks a letter by 'answer is (B)', 'Answer: B', or by starting with 'B' / 'B.' / '(B)'."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ptst.score.base import register_scorer, scored
from ptst.score.metrics import Metric, rate

_PATTERNS = (
    re.compile(r"answer\s*(?:is|:)?\s*[:\-]?\s*\(?\**([A-E])\b\)?", re.IGNORECASE),
    re.compile(r"^\s*\(?\**([A-E])\**(?:[).:]|\s|$)"),
)


def extract_choice(reply: str) -> str | None:
    for pattern in _PATTERNS:
        m = pattern.search(reply)
        if m:
            return m.group(1).upper()
    return None


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


@register_scorer("multiple-choice", MultipleChoiceScorer.summarize)
def make_multiple_choice(**_) -> MultipleChoiceScorer:
    return MultipleChoiceScorer()
