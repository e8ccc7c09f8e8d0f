"""The statistics of score/stats.py against values computed independently (printed tables, closed forms,
enumeration, numerical integration, Holm's step-down procedure) and their coverage on simulated data."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from ptst.score.metrics import wilson
from ptst.score.stats import (
    difference_intervals,
    holm,
    mcnemar_exact,
    paired_differences,
    paired_test,
    seed_interval,
    sign_flip_test,
    t_cdf,
    t_quantile,
    two_level_bootstrap,
)

# Student's t, 0.975 quantile, from a printed table (e.g. Abramowitz & Stegun table 26.10).
T_TABLE_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 9: 2.262, 10: 2.228, 20: 2.086,
               30: 2.042}


@pytest.mark.parametrize("df", sorted(T_TABLE_975))
def test_t_quantile_matches_the_printed_table(df):
    assert t_quantile(0.975, df) == pytest.approx(T_TABLE_975[df], abs=6e-4)
    assert t_quantile(0.025, df) == pytest.approx(-T_TABLE_975[df], abs=6e-4)


@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_t_quantile_matches_closed_forms_for_one_and_two_degrees_of_freedom(p):
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)  # Cauchy
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9)


@pytest.mark.parametrize("df", [3, 4, 7, 12])
def test_t_cdf_matches_the_integrated_density(df):
    def density(x):
        c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
        return c * (1 + x * x / df) ** (-(df + 1) / 2)

    for t in (-2.5, -0.3, 0.0, 1.0, 3.7):
        steps = 20000  # Simpson's rule from 0 to t; the density is symmetric, so P(T <= t) = 1/2 + integral
        h = t / steps
        integral = h / 3 * (density(0) + density(t) + sum((4 if j % 2 else 2) * density(j * h)
                                                          for j in range(1, steps)))
        assert t_cdf(t, df) == pytest.approx(0.5 + integral, abs=1e-9)


def _enumerated_mcnemar(b: int, c: int) -> float:
    """Every way n fair coins can fall; the p-value is the share at least as far from n/2 as the observed split."""
    n = b + c
    observed = abs(b - n / 2)
    extreme = sum(abs(sum(coins) - n / 2) >= observed for coins in itertools.product((0, 1), repeat=n))
    return extreme / 2 ** n


def test_mcnemar_equals_enumeration_of_every_discordant_outcome():
    for n in range(0, 13):
        for b in range(n + 1):
            assert mcnemar_exact(b, n - b) == pytest.approx(_enumerated_mcnemar(b, n - b), abs=1e-12), (b, n - b)


def test_mcnemar_by_hand():
    assert mcnemar_exact(0, 5) == 2 / 32  # both all-one-way outcomes of 5 coins
    assert mcnemar_exact(1, 9) == 2 * (1 + 10) / 1024
    assert mcnemar_exact(7, 7) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_mcnemar_keeps_its_level_on_simulated_null_pairs():
    rng = random.Random(3)
    rejected = 0
    for _ in range(2000):  # 40 requests; both templates refuse each request with the same request-specific chance
        b = c = 0
        for _ in range(40):
            p = rng.random()
            x, y = rng.random() < p, rng.random() < p
            b, c = b + (x and not y), c + (y and not x)
        rejected += mcnemar_exact(b, c) <= 0.05
    assert rejected / 2000 <= 0.05 + 0.01  # exact test: at most the nominal level (plus simulation error)


def test_sign_flip_test_agrees_with_mcnemar_on_binary_differences():
    diffs = [1.0] * 12 + [-1.0] * 3 + [0.0] * 30
    assert sign_flip_test(diffs, draws=40000, seed=1) == pytest.approx(mcnemar_exact(12, 3), abs=0.004)


def test_seed_interval_by_hand():
    values = [0.20, 0.30, 0.25]  # mean 0.25, sample sd 0.05
    half = T_TABLE_975[2] * 0.05 / math.sqrt(3)
    got = seed_interval(values, bounds=(0, 1))
    assert (got.value, got.low, got.high) == pytest.approx((0.25, 0.25 - half, 0.25 + half), abs=1e-3)
    assert got.covers == "seeds (t 95%, k=3)"
    assert seed_interval([0.0, 0.1], bounds=(0, 1)).low == 0.0  # a rate's interval stays a rate
    with pytest.raises(ValueError):
        seed_interval([0.3])


def _rejections_by_step_down(p: list[float], alpha: float) -> list[bool]:
    """Holm (1979): order the p-values; reject while p_(j) <= alpha / (m - j + 1), stop at the first failure."""
    m, order, out = len(p), sorted(range(len(p)), key=lambda i: p[i]), [False] * len(p)
    for j, i in enumerate(order):
        if p[i] > alpha / (m - j):
            break
        out[i] = True
    return out


def test_holm_adjusted_p_values_reproduce_the_step_down_procedure():
    rng = random.Random(5)
    cases = [[0.01, 0.04, 0.03, 0.005], [0.5], [0.001, 0.001, 0.2, 0.049, 0.0125]]
    cases += [[rng.random() ** 3 for _ in range(rng.randint(2, 9))] for _ in range(30)]
    for p in cases:
        adjusted = holm(p)
        assert all(a >= q for a, q in zip(adjusted, p, strict=True)) and max(adjusted) <= 1
        for alpha in (0.001, 0.01, 0.02, 0.05, 0.1, 0.25):
            assert [a <= alpha for a in adjusted] == _rejections_by_step_down(p, alpha), (p, alpha)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])  # worked by hand


def _simulated_cell(rng: random.Random, seeds: int, requests: int, *, mean=0.3, spread=0.15) -> dict:
    """Each seed trains a model whose true rate is mean + U(-spread, spread); each request is Bernoulli(rate)."""
    out = {}
    for s in range(seeds):
        p = mean + rng.uniform(-spread, spread)
        out[s] = {f"r{i}": float(rng.random() < p) for i in range(requests)}
    return out


def _seed_means(cell: dict) -> list[float]:
    return [sum(v.values()) / len(v) for v in cell.values()]


def test_coverage_on_simulated_studies():
    """The training recipe's true rate is 0.3. An interval over seeds covers it about 95% of the time; one seed's
    Wilson interval, which covers requests only, misses it far more often when seeds differ."""
    rng = random.Random(11)
    t_hits = wilson_hits = wilson_hits_no_seed_variance = 0
    for _ in range(600):
        cell = _simulated_cell(rng, 3, 60)
        ci = seed_interval(_seed_means(cell), bounds=(0, 1))
        t_hits += ci.low <= 0.3 <= ci.high
        low, high = wilson(int(sum(cell[0].values())), 60)
        wilson_hits += low <= 0.3 <= high
        one = _simulated_cell(rng, 1, 60, spread=0.0)[0]
        low, high = wilson(int(sum(one.values())), 60)
        wilson_hits_no_seed_variance += low <= 0.3 <= high
    assert 0.91 <= t_hits / 600 <= 0.98
    assert wilson_hits / 600 < 0.8
    assert wilson_hits_no_seed_variance / 600 >= 0.92
    boot_hits = 0
    for r in range(150):
        ci = two_level_bootstrap(_simulated_cell(rng, 8, 40), resamples=800, seed=r)
        boot_hits += ci.low <= 0.3 <= ci.high
    assert 0.87 <= boot_hits / 150 <= 0.995


def test_two_level_bootstrap_with_one_seed_is_a_request_bootstrap():
    rng = random.Random(2)
    cell = {0: {f"r{i}": float(rng.random() < 0.4) for i in range(200)}}
    ci = two_level_bootstrap(cell, seed=0)
    k = int(sum(cell[0].values()))
    low, high = wilson(k, 200)
    assert ci.value == k / 200 and ci.covers == "requests (bootstrap 95%, 1 seed)"
    assert ci.low == pytest.approx(low, abs=0.02) and ci.high == pytest.approx(high, abs=0.02)
    assert two_level_bootstrap({0: {"a": 1.0, "b": 1.0}, 1: {"a": 1.0}}).low == 1.0  # no variation, no width


def test_two_level_bootstrap_widens_with_seed_variance():
    rng = random.Random(4)
    tight = two_level_bootstrap(_simulated_cell(rng, 3, 100, spread=0.0))
    loose = two_level_bootstrap(_simulated_cell(rng, 3, 100, spread=0.25))
    assert loose.high - loose.low > 1.5 * (tight.high - tight.low)
    assert tight.covers == "seeds and requests (two-level bootstrap 95%, k=3)"


def test_paired_difference_uses_the_pairing():
    """Two test templates on one model that agree on most requests: pairing removes the shared request
    variation, so the paired interval is much narrower than one that ignores it, and both contain the truth."""
    rng = random.Random(8)
    a, b = {}, {}
    for s in range(3):
        a[s], b[s] = {}, {}
        for i in range(300):
            hard = rng.random() < 0.5
            a[s][f"r{i}"] = float(hard)
            b[s][f"r{i}"] = float(hard and rng.random() > 0.2)  # b refuses 20% of what a did not
    paired, over_seeds = difference_intervals(a, b, "rate")
    b_unpaired = {s + 100: v for s, v in b.items()}  # other seeds: no pairing possible
    unpaired = difference_intervals(a, b_unpaired, "rate")[0]
    assert paired.covers == "seeds and requests (two-level paired bootstrap 95%, k=3)"
    assert unpaired.covers == "seeds and requests (two-level unpaired bootstrap 95%, k=3)"
    assert over_seeds.covers == "seeds (t 95%, k=3)"
    assert paired.low <= 0.1 <= paired.high and unpaired.low <= 0.1 <= unpaired.high
    assert paired.high - paired.low < 0.6 * (unpaired.high - unpaired.low)
    test = paired_test(paired_differences(a, b), "rate")
    only_a = sum(a[s][i] > b[s][i] for s in a for i in a[s])
    only_b = sum(a[s][i] < b[s][i] for s in a for i in a[s])
    assert test.discordant == (only_a, only_b) and only_b == 0
    assert test.p_value == pytest.approx(2 * 0.5 ** only_a)
    assert test.name == "exact McNemar (requests paired within seed, 3 seeds pooled)"


def test_paired_differences_keep_only_shared_requests():
    a = {0: {"x": 1.0, "y": 0.0, "z": 1.0}}
    b = {0: {"x": 0.0, "y": 0.0}}
    assert paired_differences(a, b) == {0: {"x": 1.0, "y": 0.0}}
    assert paired_differences(a, {1: b[0]}) == {}


@pytest.mark.parametrize("distinct", [5, 200])  # few distinct values take the multinomial path, many the indices
def test_one_seed_bootstrap_draws_have_the_resampling_distribution(distinct):
    """A resample's mean has the sample's mean and spread sigma / sqrt(n), sigma the population sd of the sample."""
    from ptst.score.stats import bootstrap_draws

    rng = random.Random(distinct)
    values = [float(rng.randrange(distinct)) for _ in range(150)]
    draws = bootstrap_draws({0: {f"r{i}": v for i, v in enumerate(values)}}, resamples=20000, seed=1)
    m = sum(values) / len(values)
    sigma = math.sqrt(sum((v - m) ** 2 for v in values) / len(values))
    assert draws.mean() == pytest.approx(m, rel=0.01)
    assert draws.std() == pytest.approx(sigma / math.sqrt(len(values)), rel=0.04)
