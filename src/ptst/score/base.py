"""The scorer interface and registry: a scorer turns sample rows into per-sample results and summary metrics.

A per-sample result is a dict stored under `row["scores"][scorer.name]`, or None when the sample cannot be
scored (for example no reference answer); unscored samples are counted, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ptst.core.registry import Registry
from ptst.score.metrics import Metric
from ptst.store.records import ScoreResult, register_result_shape


class Scorer(Protocol):
    name: str

    def score(self, rows: Sequence[dict]) -> list[dict | None]:
        """One result per row, in order."""
        ...

    def summarize(self, results: Sequence[dict | None]) -> list[Metric]:
        """Summary metrics over the scored results."""
        ...


@dataclass(frozen=True)
class MetricInfo:
    """How a metric reads, declared by its scorer: reports label, scale and place it from this alone.
    `unit` "%" shows a rate as a percentage; `grid_roles` are the data-set roles (task, harmful, benign-probe,
    refusal) whose grids and plots show the metric, in the order the scorer declares its metrics; `highlight`
    False keeps a diagnostic (e.g. the truncation rate) out of the paired differences a report highlights and
    tests; `attack_success` marks the one rate per scorer that says "this response served the harmful request"
    (judge panels compare scorers on it)."""

    name: str
    label: str
    unit: str = "%"
    higher_is_better: bool | None = None
    grid_roles: tuple[str, ...] = ()
    highlight: bool = True
    attack_success: bool = False

    @property
    def percent(self) -> bool:
        return self.unit == "%"


ScorerFactory = Callable[..., Scorer]
scorers: Registry[ScorerFactory] = Registry("scorer", plugins=[f"ptst.score.{module}" for module in (
    "gsm8k", "guard", "multiple_choice", "reference", "refusal", "rubric", "strongreject", "truncation")])


def register_scorer(name: str, summarize: Callable[[Sequence[dict | None]], list[Metric]],
                    metrics: Sequence[MetricInfo] = (), *, result: type[ScoreResult] = ScoreResult,
                    needs: Sequence[str] = (), needs_judge: bool = False):
    """Decorator: register a factory `f(**options) -> Scorer` under `name`. `summarize` is also reachable as
    `factory.summarize`, so reports can summarise stored results without building the scorer (or its judge);
    `metrics` (`factory.metrics`) declares how each metric it reports reads; `result` is the record of one
    per-sample result (every field `summarize` reads, required), checked wherever stored results are read back;
    `needs` (`factory.needs`) the sample fields besides `output` it reads, checked when samples are read. A scorer
    with `needs_judge` is given `judge=` (a backend built from the judge options, `ptst.score.judge_options`) and
    `judge_options=`."""

    def wrap(factory: ScorerFactory) -> ScorerFactory:
        factory.summarize = summarize  # type: ignore[attr-defined]
        factory.metrics = tuple(metrics)  # type: ignore[attr-defined]
        factory.needs = tuple(needs)  # type: ignore[attr-defined]
        factory.needs_judge = needs_judge  # type: ignore[attr-defined]
        scorers.register(name, factory)
        register_result_shape(name, result)
        return factory

    return wrap


def needs_judge(name: str) -> bool:
    """Whether the registered scorer `name` grades with a judge."""
    return bool(getattr(scorers.get(name), "needs_judge", False))


def attack_success_metric(name: str) -> str | None:
    """The metric scorer `name` declares as its attack-success rate, if any."""
    return next((m.name for m in scorers.get(name).metrics if m.attack_success), None)


def metric_info(metric: str) -> MetricInfo:
    """The declaration of a metric by name (metric names are unique across scorers); an undeclared metric reads
    as a percentage under its own name and is not shown in grids."""
    for _, factory in scorers.items():
        for info in getattr(factory, "metrics", ()):
            if info.name == metric:
                return info
    return MetricInfo(metric, metric)


def scored(results: Sequence[dict | None], key: str | None = None) -> list[dict]:
    """The results that carry a score (and, if `key` is given, a non-None value for it)."""
    return [r for r in results if r is not None and (key is None or r.get(key) is not None)]
