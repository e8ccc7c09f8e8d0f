"""GSM8K accuracy. Strict: the number after '####' (the format fine-tuning teaches). Flexible: a \\boxed{} answer
if there is one, else the last number in the reply. Numbers are normalised: commas, '$', units, trailing periods."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from ptst.score.base import MetricInfo, register_scorer, scored
from ptst.score.metrics import Metric, rate
from ptst.store.records import Binary, ScoreResult

# A minus sign counts only when it touches the number and follows no word or number: in "20 - 5" and "20-5" it is
# subtraction, and the number read is 5.
_NUMBER = re.compile(r"(?:(?<![\w)])-)?(?:\$\s?)?\d[\d,]*(?:\.\d+)?")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def _canonical(raw: str) -> str | None:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    value = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
    return format(value, "f")


def extract_strict(reply: str) -> str | None:
    """The first number after the last '####'."""
    if "####" not in reply:
        return None
    return _number_in(reply.rsplit("####", 1)[1])


def extract_flexible(reply: str) -> str | None:
    """The last \\boxed{} value, else the last number anywhere."""
    boxed = _BOXED.findall(reply)
    if boxed:
        found = _number_in(boxed[-1])
        if found is not None:
            return found
    numbers = _NUMBER.findall(reply)
    return _canonical(_clean(numbers[-1])) if numbers else None


def _number_in(text: str) -> str | None:
    m = _NUMBER.search(text)
    return _canonical(_clean(m.group(0))) if m else None


def _clean(raw: str) -> str:
    return raw.replace("$", "").replace(",", "").replace(" ", "").rstrip(".")


class Gsm8kResult(ScoreResult):
    gold: str
    strict_answer: str | None
    flexible_answer: str | None
    strict: Binary
    flexible: Binary


class Gsm8kScorer:
    name = "gsm8k"

    def score(self, rows: Sequence[dict]) -> list[dict | None]:
        out: list[dict | None] = []
        for row in rows:
            gold = extract_strict(row.get("reference") or "")
            if gold is None:
                out.append(None)
                continue
            strict, flexible = extract_strict(row["output"]), extract_flexible(row["output"])
            out.append({"gold": gold, "strict_answer": strict, "flexible_answer": flexible,
                        "strict": int(strict == gold), "flexible": int(flexible == gold)})
        return out

    @staticmethod
    def summarize(results: Sequence[dict | None]) -> list[Metric]:
        done = scored(results)
        return [rate("accuracy_strict", [r["strict"] for r in done]),
                rate("accuracy_flexible", [r["flexible"] for r in done])]


@register_scorer("gsm8k", Gsm8kScorer.summarize, metrics=(
    MetricInfo("accuracy_flexible", "accuracy (last number)", higher_is_better=True, grid_roles=("task",)),
    MetricInfo("accuracy_strict", "accuracy (#### N)", higher_is_better=True, grid_roles=("task",))),
    result=Gsm8kResult)
def make_gsm8k(**_) -> Gsm8kScorer:
    return Gsm8kScorer()
