"""Summary statistics and the one-sided Welch t-test, with the Student t CDF written out.

The t CDF goes through the regularised incomplete beta function (a Lentz continued
fraction), so the toolkit needs no SciPy; the tests compare it with closed forms
(df = 1, 2) and with SciPy when it happens to be installed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

_CF_MAX_ITER = 300
_CF_EPS = 1e-15
_CF_TINY = 1e-300


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    std: float | None  # sample standard deviation (n - 1); None below two values
    min: float | None
    max: float | None


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, None, None, None, None)
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n >= 2 else None
    return Summary(n, mean, std, min(values), max(values))


def population_std(values: Sequence[float]) -> float | None:
    if not values:
        return None
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
    h = d
    for m in range(1, _CF_MAX_ITER + 1):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _CF_TINY else _CF_TINY
            h *= d * c
        if abs(d * c - 1.0) < _CF_EPS:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"incomplete beta needs 0 <= x <= 1, got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # the continued fraction converges fast only below the mean; use the symmetry above it
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom (df may be fractional, as in Welch)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


@dataclass(frozen=True)
class WelchResult:
    """One-sided Welch test of H1: mean(baseline) - mean(candidate) > margin (lower is better)."""
    margin: float
    difference: float  # mean(baseline) - mean(candidate): positive means the candidate is lower
    t: float | None
    df: float | None
    p_value: float | None
    note: str


def welch_from_summaries(mean_candidate: float, std_candidate: float, n_candidate: int,
                         mean_baseline: float, std_baseline: float, n_baseline: int,
                         margin: float = 0.0) -> WelchResult:
    difference = mean_baseline - mean_candidate
    if n_candidate < 2 or n_baseline < 2:
        return WelchResult(margin, difference, None, None, None,
                           f"needs at least 2 values per side (have {n_candidate} and {n_baseline})")
    var_c, var_b = std_candidate ** 2 / n_candidate, std_baseline ** 2 / n_baseline
    se2 = var_c + var_b
    if se2 == 0.0:
        # identical values on both sides: the difference is exact, so the test is decided outright
        p = 0.0 if difference > margin else 1.0
        return WelchResult(margin, difference, None, None, p, "zero variance on both sides")
    t = (difference - margin) / math.sqrt(se2)
    df = se2 ** 2 / (var_c ** 2 / (n_candidate - 1) + var_b ** 2 / (n_baseline - 1))
    return WelchResult(margin, difference, t, df, student_t_sf(t, df), "Welch-Satterthwaite df")


def welch_one_sided(candidate: Sequence[float], baseline: Sequence[float],
                    margin: float = 0.0) -> WelchResult:
    """Is the candidate lower than the baseline by more than `margin`? Same units throughout."""
    c, b = summarize(candidate), summarize(baseline)
    if c.n == 0 or b.n == 0:
        raise ValueError("Welch test needs values on both sides")
    return welch_from_summaries(c.mean, c.std or 0.0, c.n, b.mean, b.std or 0.0, b.n, margin)


def welch_two_sided_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Welch p-value that the two means differ (either way); None below two values a side."""
    sa, sb = summarize(a), summarize(b)
    if sa.n < 2 or sb.n < 2:
        return None
    var_a, var_b = sa.std ** 2 / sa.n, sb.std ** 2 / sb.n
    se2 = var_a + var_b
    difference = sa.mean - sb.mean
    if se2 == 0.0:
        return 0.0 if difference != 0.0 else 1.0
    t = difference / math.sqrt(se2)
    df = se2 ** 2 / (var_a ** 2 / (sa.n - 1) + var_b ** 2 / (sb.n - 1))
    return min(1.0, 2.0 * student_t_sf(abs(t), df))
