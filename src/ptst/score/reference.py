"""Free-text similarity to a reference answer (ChatDoctor-style tasks): ROUGE-L F1 offline, and BERTScore with a
model of the user's choice when the `bert-score` package is installed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field

from ptst.core.errors import PtstError
from ptst.score.base import MetricInfo, register_scorer, scored
from ptst.score.metrics import Metric, mean
from ptst.store.records import ScoreResult

_TOKEN = re.compile(r"\w+", re.UNICODE)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lowercased word tokens (longest common subsequence)."""
    a, b = _TOKEN.findall(candidate.lower()), _TOKEN.findall(reference.lower())
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


class SimilarityResult(ScoreResult):
    rouge_l: float = Field(ge=0.0, le=1.0)
    bertscore_f1: float | None = Field(None, ge=-1.0, le=1.0)


class ReferenceSimilarityScorer:
    name = "reference-similarity"

    def __init__(self, bertscore_model: str | None = None):
        self.bertscore_model = bertscore_model
        self.settings = {"bertscore_model": bertscore_model}

    def score(self, rows: Sequence[dict]) -> list[dict | None]:
        pairs = [(i, r["output"], r["reference"]) for i, r in enumerate(rows) if r.get("reference")]
        out: list[dict | None] = [None] * len(rows)
        for i, cand, ref in pairs:
            out[i] = {"rouge_l": rouge_l(cand, ref)}
        if self.bertscore_model and pairs:
            for (i, _, _), f1 in zip(pairs, self._bertscore([p[1] for p in pairs], [p[2] for p in pairs]),
                                     strict=True):
                out[i]["bertscore_f1"] = f1
        return out

    def _bertscore(self, cands: list[str], refs: list[str]) -> list[float]:
        try:
            from bert_score import score
        except ImportError:
            raise PtstError("--bertscore-model needs the bert-score package: pip install bert-score") from None
        _, _, f1 = score(cands, refs, model_type=self.bertscore_model, verbose=False)
        return [float(x) for x in f1]

    @staticmethod
    def summarize(results: Sequence[dict | None]) -> list[Metric]:
        metrics = [mean("rouge_l", [r["rouge_l"] for r in scored(results)])]
        with_bert = scored(results, "bertscore_f1")
        if with_bert:
            metrics.append(mean("bertscore_f1", [r["bertscore_f1"] for r in with_bert]))
        return metrics


@register_scorer("reference-similarity", ReferenceSimilarityScorer.summarize, metrics=(
    MetricInfo("rouge_l", "ROUGE-L", unit="", higher_is_better=True, grid_roles=("task",)),
    MetricInfo("bertscore_f1", "BERTScore F1", unit="", higher_is_better=True, grid_roles=("task",))),
    result=SimilarityResult)
def make_reference_similarity(bertscore_model: str | None = None, **_) -> ReferenceSimilarityScorer:
    return ReferenceSimilarityScorer(bertscore_model)
