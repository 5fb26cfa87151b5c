import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator.records.stats import (population_std, regularized_incomplete_beta, student_t_sf, summarize,
                                     welch_from_summaries, welch_one_sided)


@pytest.mark.parametrize("t", [-3.0, -0.5, 0.0, 0.7, 1.0, 2.5, 12.0])
def test_t_sf_matches_closed_forms(t):
    # df = 1 is Cauchy, df = 2 has an algebraic CDF; the continued fraction stops at 1e-15 relative (_CF_EPS) and
    # the closed forms round a few times in float64, so 1e-12 absolute holds for a probability
    assert student_t_sf(t, 1) == pytest.approx(0.5 - math.atan(t) / math.pi, abs=1e-12)
    assert student_t_sf(t, 2) == pytest.approx(0.5 - t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


@pytest.mark.parametrize("t, df, p", [(2.015048, 5, 0.05), (3.364930, 5, 0.01), (2.228139, 10, 0.025),
                                      (1.644854, 1e7, 0.05)])
def test_t_sf_table_values(t, df, p):
    # the tables print t to 6 decimals: half a unit moves p by 5e-7 x density(t) / p < 1e-6 relative for these rows
    assert student_t_sf(t, df) == pytest.approx(p, rel=1e-5)


def test_incomplete_beta_symmetry_and_ends():
    assert regularized_incomplete_beta(2.5, 0.5, 0.0) == 0.0
    assert regularized_incomplete_beta(2.5, 0.5, 1.0) == 1.0
    # two continued fractions, each within 1e-15 relative (_CF_EPS), plus float64 roundings
    assert regularized_incomplete_beta(3, 4, 0.3) + regularized_incomplete_beta(4, 3, 0.7) == \
        pytest.approx(1.0, rel=0, abs=1e-12)
    with pytest.raises(ValueError):
        regularized_incomplete_beta(1, 1, 1.5)


def test_welch_on_a_published_comparison():
    # openai/parameter-golf PR #1967 compares n=4 (mean 1.05807, std 0.00103) with n=6 (1.060755, 0.000933) and
    # quotes t=4.29, df~6.0, p~0.0026 from a hand-rounded SE (0.000627). Exactly: SE = sqrt(.00103^2/4 +
    # .000933^2/6) = 0.00064057, t = 0.002685 / SE = 4.1917, Welch df = 6.087; p checked by Simpson integration.
    result = welch_from_summaries(1.05807, 0.00103, 4, 1.060755, 0.000933, 6)
    # the expected values are printed to 6 or 8 decimals: half a unit in the last place bounds each
    assert result.t == pytest.approx(4.191699, abs=5e-7)
    assert result.df == pytest.approx(6.086936, abs=5e-7)
    assert result.p_value == pytest.approx(0.00277944, abs=5e-9)


def test_welch_hand_computed_from_samples():
    candidate, baseline = [1.0, 1.2, 1.1], [1.5, 1.7, 1.6]
    # equal variances (0.01) and n: se = sqrt(2 * 0.01 / 3), df = 4
    result = welch_one_sided(candidate, baseline)
    # float64 formulas of a few operations each (errors ~1e-15): approx's default 1e-6 relative holds with room
    assert result.difference == pytest.approx(0.5)
    assert result.t == pytest.approx(0.5 / math.sqrt(0.02 / 3))
    assert result.df == pytest.approx(4.0)
    margin = welch_one_sided(candidate, baseline, margin=0.5)
    assert margin.t == pytest.approx(0.0, abs=1e-12) and margin.p_value == pytest.approx(0.5)


def test_welch_needs_two_values_per_side():
    result = welch_one_sided([1.0], [1.1, 1.2])
    assert result.p_value is None and "at least 2" in result.note


def test_welch_agrees_with_scipy_when_installed():
    scipy_stats = pytest.importorskip("scipy.stats", reason="scipy not installed; closed forms cover the CDF")
    a, b = [1.187, 1.1876, 1.1875, 1.1871], [1.1118, 1.1121, 1.1127]
    ours = welch_one_sided(b, a)
    theirs = scipy_stats.ttest_ind(b, a, equal_var=False, alternative="less")
    # both evaluate the t tail (p = 2.6e-8 here) directly in float64 to near machine precision (ours: a continued
    # fraction to _CF_EPS = 1e-15; they agree to 1e-14): 1e-6 is far outside either's error
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-50, max_value=50), st.floats(min_value=0.5, max_value=200))
def test_t_sf_is_a_survival_function(t, df):
    p = student_t_sf(t, df)
    assert 0.0 <= p <= 1.0
    assert p + student_t_sf(-t, df) == pytest.approx(1.0, abs=1e-9)  # two continued fractions to 1e-15 each


def test_summary_uses_the_sample_std():
    s = summarize([1.18720375, 1.18761637, 1.18745690])  # expected values printed to 8 decimals: half a unit, 5e-9
    assert s.n == 3 and s.mean == pytest.approx(1.18742567, abs=5e-9)
    assert s.std == pytest.approx(0.00020807, abs=5e-9)
    assert population_std([1.0, 3.0]) == 1.0
    assert summarize([]).mean is None and summarize([2.0]).std is None
