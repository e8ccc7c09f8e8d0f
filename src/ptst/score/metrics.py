"""Summary statistics with 95% intervals over the requests of one cell: Wilson for rates, a seeded bootstrap for
means. They cover request sampling only; stats.py has the intervals over seeds and the paired tests."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ptst.score.stats import covers_requests

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Metric:
    """One number a scorer reports, with its interval and how many samples it rests on."""

    name: str
    value: float
    low: float
    high: float
    n: int
    kind: str  # rate | mean

    @property
    def covers(self) -> str:
        """What variation the interval covers: the requests of this one cell."""
        return covers_requests(self.kind)

    def format(self) -> str:
        if self.kind == "rate":
            return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}] (n={self.n})"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"

    def to_dict(self) -> dict:
        return {"metric": self.name, "value": self.value, "low": self.low, "high": self.high, "n": self.n,
                "kind": self.kind}


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial rate; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded, so reports are reproducible)."""
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:  # every resample is the one value (per-request summaries take this path)
        return values[0], values[0]
    rng, n = random.Random(seed), len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return means[int(0.025 * resamples)], means[min(resamples - 1, int(0.975 * resamples))]


def rate(name: str, flags: Sequence[bool]) -> Metric:
    k, n = sum(bool(f) for f in flags), len(flags)
    low, high = wilson(k, n)
    return Metric(name, k / n if n else float("nan"), low, high, n, "rate")


def mean(name: str, values: Sequence[float]) -> Metric:
    low, high = bootstrap_mean(values)
    return Metric(name, sum(values) / len(values) if values else float("nan"), low, high, len(values), "mean")
