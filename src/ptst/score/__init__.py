"""Scoring: a registry of scorers (gsm8k, refusal-keywords, rubric, strongreject-v1/v2, guard, reference-similarity,
multiple-choice, truncation), the judge options and backends that judge-graded scorers are handed, and the summary
statistics."""

from ptst.score.base import Scorer, scorers
from ptst.score.metrics import Metric, bootstrap_mean, wilson
from ptst.score.run import apply_scores, read_samples, score_file

__all__ = ["Metric", "Scorer", "apply_scores", "bootstrap_mean", "read_samples", "score_file", "scorers", "wilson"]
