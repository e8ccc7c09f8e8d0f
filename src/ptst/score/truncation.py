"""truncation: whether a reply stopped at the token limit (finish reason 'length') instead of ending by itself.
A truncated reply is scored on what it had written by then, so a task accuracy means little unless this share is
low; studies list it beside a task scorer (`scorers: [gsm8k, truncation]`)."""

from __future__ import annotations

from collections.abc import Sequence

from ptst.score.base import MetricInfo, register_scorer, scored
from ptst.score.metrics import Metric, rate
from ptst.store.records import Binary, ScoreResult

FINISH_REASONS = ("stop", "length")


class TruncationResult(ScoreResult):
    truncated: Binary


class TruncationScorer:
    name = "truncation"

    def score(self, rows: Sequence[dict]) -> list[dict | None]:
        return [{"truncated": int(row["finish_reason"] == "length")}
                if row.get("finish_reason") in FINISH_REASONS else None for row in rows]

    @staticmethod
    def summarize(results: Sequence[dict | None]) -> list[Metric]:
        return [rate("truncated", [r["truncated"] for r in scored(results)])]


@register_scorer("truncation", TruncationScorer.summarize, metrics=(
    MetricInfo("truncated", "replies cut at max_new_tokens", higher_is_better=False, grid_roles=("task",),
               highlight=False),), result=TruncationResult)
def make_truncation(**_) -> TruncationScorer:
    return TruncationScorer()
