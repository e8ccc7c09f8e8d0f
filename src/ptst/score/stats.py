"""Statistics that say what they cover.

A cell's Wilson interval (metrics.py) covers the requests of one trained model. These cover more, and each result
carries a label saying which variation it covers:

- `seed_interval`: a t interval over the per-seed values of a cell (training variance, k >= 2 seeds);
- `two_level_bootstrap`: resample seeds, then requests within each drawn seed (training and request variance);
- `mcnemar_exact` / `paired_test`: two cells on the same requests (paired within seed), exact McNemar for rates
  and a sign-flip randomisation test for means;
- `seed_paired_t` / `seed_sign_flip`: two cells compared by their per-seed values (paired by seed): training
  variance is the noise, so these carry a pre-specified claim about the training recipe, not about one model;
- `holm`: step-down adjusted p-values for the comparisons a report makes.

Outcomes come as `{seed: {request_id: value}}` per cell (value 0/1 for a rate); pure Python and numpy only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Outcomes = Mapping[object, Mapping[str, float]]  # seed -> request id -> value

LEVEL = 0.95
RESAMPLES = 2000
SIGN_FLIPS = 10000


def covers_requests(kind: str) -> str:
    return "requests (Wilson 95%)" if kind == "rate" else "requests (bootstrap 95%)"


def covers_seeds(k: int) -> str:
    return f"seeds (t 95%, k={k})"


def covers_two_level(k: int, pairing: str = "") -> str:
    method = f"{pairing} bootstrap".strip()
    return (f"seeds and requests (two-level {method} 95%, k={k})" if k > 1
            else f"requests ({method} 95%, 1 seed)")


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    covers: str


# --- the t distribution, integer degrees of freedom (Abramowitz & Stegun 26.7.3-4) -------------------------------

def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with `df` (a positive integer) degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan2(t, math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:
        term, series = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            series += term
            term *= cos2 * (2 * k) / (2 * k + 1)
        central = 2 / math.pi * (theta + sin * series)
    else:
        term, series = 1.0, 0.0
        for k in range(df // 2):
            series += term
            term *= cos2 * (2 * k + 1) / (2 * k + 2)
        central = sin * series
    return 0.5 + central / 2


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t (bisection on `t_cdf`)."""
    if not 0 < p < 1:
        raise ValueError(f"quantile level must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    high = 1.0
    while t_cdf(high, df) < p:
        high *= 2
    low = 0.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


def seed_interval(values: Sequence[float], *, bounds: tuple[float, float] | None = None) -> Interval:
    """Mean of per-seed values with a t interval (k-1 degrees of freedom); `bounds` clips a rate's interval."""
    k = len(values)
    if k < 2:
        raise ValueError("an interval over seeds needs at least 2 seeds")
    centre = math.fsum(values) / k
    sd = math.sqrt(math.fsum((v - centre) ** 2 for v in values) / (k - 1))
    half = t_quantile(0.5 + LEVEL / 2, k - 1) * sd / math.sqrt(k)
    low, high = centre - half, centre + half
    if bounds:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Interval(centre, low, high, covers_seeds(k))


# --- two-level bootstrap ----------------------------------------------------------------------------------------

def _groups(outcomes: Outcomes) -> list:
    import numpy as np

    groups = [np.asarray([per_seed[i] for i in sorted(per_seed)], dtype=float) for per_seed in outcomes.values()]
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError("a bootstrap needs at least one request in every seed")
    return groups


def bootstrap_draws(outcomes: Outcomes, *, resamples: int = RESAMPLES, seed: int = 0):
    """`resamples` draws of the cell statistic (the mean over seeds of each seed's mean over requests): draw k
    seeds with replacement, then, independently for every drawn seed, its requests with replacement."""
    import numpy as np

    groups, rng = _groups(outcomes), np.random.default_rng(seed)
    k = len(groups)
    drawn = rng.integers(0, k, size=(resamples, k))
    total = np.zeros(resamples)
    for position in range(k):
        for g, values in enumerate(groups):
            rows = drawn[:, position] == g
            if rows.any():
                total[rows] += _resampled_means(values, int(rows.sum()), rng)
    return total / k


def _resampled_means(values, draws: int, rng):
    """Means of `draws` resamples (with replacement) of `values`. Few distinct values (rates, scores 1-5, their
    differences): the counts of a resample are multinomial, the same distribution drawn without the n-fold cost."""
    import numpy as np

    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) <= 16:
        return rng.multinomial(len(values), counts / len(values), size=draws) @ distinct / len(values)
    return values[rng.integers(0, len(values), size=(draws, len(values)))].mean(axis=1)


def cell_value(outcomes: Outcomes) -> float:
    return math.fsum(math.fsum(s.values()) / len(s) for s in outcomes.values()) / len(outcomes)


def percentile_interval(draws, value: float, covers: str) -> Interval:
    import numpy as np

    low, high = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Interval(value, float(low), float(high), covers)


def two_level_bootstrap(outcomes: Outcomes, *, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """Percentile interval of a cell's value over seeds and requests (with one seed: over requests)."""
    draws = bootstrap_draws(outcomes, resamples=resamples, seed=seed)
    return percentile_interval(draws, cell_value(outcomes), covers_two_level(len(outcomes)))


# --- differences between two cells ------------------------------------------------------------------------------

def paired_differences(a: Outcomes, b: Outcomes) -> dict:
    """Per-request differences a - b, seed by seed, on the requests both cells share; {} when the cells do not
    share their seeds (then no pairing exists)."""
    if set(a) != set(b):
        return {}
    diffs = {s: {i: a[s][i] - b[s][i] for i in a[s].keys() & b[s].keys()} for s in a}
    return diffs if all(diffs.values()) else {}


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b and c are the discordant pair counts; under the null each discordant
    pair falls either way with probability 1/2, so min(b, c) is binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, j) for j in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2 ** n)


def sign_flip_test(diffs: Sequence[float], *, draws: int = SIGN_FLIPS, seed: int = 0) -> float:
    """Two-sided paired randomisation test of mean difference 0: flip each difference's sign at random."""
    import numpy as np

    d = np.asarray([x for x in diffs if x != 0], dtype=float)
    if d.size == 0:
        return 1.0
    observed = abs(d.sum())
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(draws, d.size))
    extreme = int((np.abs(signs @ d) >= observed - 1e-12).sum())
    return (1 + extreme) / (1 + draws)


@dataclass(frozen=True)
class PairedTest:
    name: str
    p_value: float
    discordant: tuple[int, int] | None = None  # (a only, b only) for McNemar


def paired_test(diffs: Mapping[object, Mapping[str, float]], kind: str) -> PairedTest:
    """McNemar (rates: differences in {-1, 0, 1}) or sign-flip (means) over every paired request, all seeds pooled
    (pooling discordant pairs across seeds is the exact stratified test: each stratum's split is binomial)."""
    flat = [d for per_seed in diffs.values() for d in per_seed.values()]
    k = len(diffs)
    where = f"requests paired within seed, {k} seeds pooled" if k > 1 else "paired requests"
    if kind == "rate":
        a_only, b_only = sum(d > 0 for d in flat), sum(d < 0 for d in flat)
        return PairedTest(f"exact McNemar ({where})", mcnemar_exact(a_only, b_only), (a_only, b_only))
    return PairedTest(f"sign-flip randomisation ({where})", sign_flip_test(flat))


def difference_intervals(a: Outcomes, b: Outcomes, kind: str, *, resamples: int = RESAMPLES,
                         seed: int = 0) -> list[Interval]:
    """The difference a - b with a two-level (or request) bootstrap interval, paired where the cells share seeds
    and requests, plus a t interval over the per-seed differences when there are 2 or more shared seeds."""
    diffs = paired_differences(a, b)
    value = cell_value(a) - cell_value(b)
    if diffs:
        draws = bootstrap_draws(diffs, resamples=resamples, seed=seed)
        value, label = cell_value(diffs), covers_two_level(len(diffs), "paired")
    else:
        draws = (bootstrap_draws(a, resamples=resamples, seed=seed)
                 - bootstrap_draws(b, resamples=resamples, seed=seed + 1))
        label = covers_two_level(min(len(a), len(b)), "unpaired")
    out = [percentile_interval(draws, value, label)]
    if len(diffs) > 1:
        per_seed = [math.fsum(d.values()) / len(d) for d in diffs.values()]
        out.append(seed_interval(per_seed, bounds=(-1.0, 1.0) if kind == "rate" else None))
    return out


def seed_paired_t(differences: Sequence[float]) -> PairedTest:
    """Two-sided paired t test of per-seed differences A - B (one per seed, k >= 2): mean / (sd / sqrt(k)) against
    Student's t with k - 1 degrees of freedom. Differences that are all equal give p 1 (all zero) or 0."""
    k = len(differences)
    if k < 2:
        raise ValueError("a test over seeds needs at least 2 seeds")
    mean = math.fsum(differences) / k
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in differences) / (k - 1))
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = 2 * (1 - t_cdf(abs(mean) / (sd / math.sqrt(k)), k - 1))
    return PairedTest(f"paired t over per-seed differences (k={k}, df={k - 1})", min(1.0, max(0.0, p)))


def seed_sign_flip(differences: Sequence[float]) -> float:
    """Exact two-sided randomisation p of per-seed differences: every one of the 2^k sign patterns, counting those
    whose |sum| is at least the observed. Assumption-free, but never below 2 / 2^k (0.25 with 3 seeds, 0.0625
    with 5): with few seeds it cannot reject at 5%, and says so by its value."""
    observed = abs(math.fsum(differences)) - 1e-12
    patterns = list(itertools.product((1.0, -1.0), repeat=len(differences)))
    hits = sum(abs(math.fsum(s * d for s, d in zip(signs, differences, strict=True))) >= observed
               for signs in patterns)
    return hits / len(patterns)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
