"""Scoring: a registry of scorers (gsm8k, refusal-keywords, rubric, reference-similarity, multiple-choice,
truncation), the judge backends and the summary statistics."""

from ptst.score.base import Scorer, scorers
from ptst.score.metrics import Metric, bootstrap_mean, wilson
from ptst.score.run import apply_scores, read_samples, score_file

__all__ = ["Metric", "Scorer", "apply_scores", "bootstrap_mean", "read_samples", "score_file", "scorers", "wilson"]
