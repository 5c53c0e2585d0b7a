"""The statistics that judge seeds (tf3dgan.evaluation.seed_statistics), pinned against values computed
independently: scipy's own tests and functions, and examples worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tf3dgan.evaluation.seed_statistics import (equivalence_power, fisher_exact, holm, mean_and_standard_error, rate,
                                                 seeds_for_equivalence, t_test_power, welch)

A = [0.606, 0.612, 0.940]
B = [0.610, 0.598, 0.608, 0.606, 0.607]


def test_welch_matches_scipys_unequal_variance_t_test_and_its_interval():
    found = welch(A, B)
    reference = stats.ttest_ind(A, B, equal_var=False)
    assert found.p == pytest.approx(reference.pvalue, rel=1e-12)
    assert found.t == pytest.approx(reference.statistic, rel=1e-12)
    assert found.df == pytest.approx(reference.df, rel=1e-12)
    interval = reference.confidence_interval(0.95)
    assert (found.ci_low, found.ci_high) == (pytest.approx(interval.low, rel=1e-10), pytest.approx(interval.high, rel=1e-10))
    assert found.difference == pytest.approx(np.mean(A) - np.mean(B), abs=1e-15)
    assert (found.n_a, found.n_b, found.no_spread) == (3, 5, False)


def test_welch_against_a_constant_is_scipys_one_sample_t_test():
    found = welch(A, 0.5)
    reference = stats.ttest_1samp(A, 0.5)
    assert found.p == pytest.approx(reference.pvalue, rel=1e-12) and found.df == 2 and found.n_b == 0


def test_the_resolution_floor_keeps_a_row_without_spread_from_making_every_difference_significant():
    constant = [0.41, 0.41, 0.41]
    other = [0.40, 0.40, 0.40]
    unfloored = welch(constant, other)  # both standard deviations 0: any difference would be "certain"
    assert unfloored.p < 1e-20
    floored = welch(constant, other, resolution=0.01)  # the score moves in steps of 0.01
    se = math.sqrt(2 * (0.01**2 / 12) / 3)
    assert floored.standard_error == pytest.approx(se)
    assert floored.p == pytest.approx(2 * stats.t.sf(0.01 / se, 4.0), rel=1e-9)
    assert floored.no_spread


def test_zero_against_zero_without_spread_is_flagged_and_one_seed_is_no_test():
    found = welch([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], resolution=1e-6)
    assert found.no_spread and found.difference == 0.0 and found.p == 1.0
    assert welch([0.5], B) is None and welch(A, [0.5]) is None
    assert welch([0.5, math.nan, None], B) is None  # NaN and missing values are no seeds


def test_equivalence_by_two_one_sided_tests_matches_scipy_on_shifted_rows():
    a, b, margin = [0.601, 0.608, 0.602], B, 0.01
    found = welch(a, b)
    # TOST: H0 difference <= -margin (reject: greater), H0 difference >= +margin (reject: less); shifting a row by a
    # constant leaves its spread, so scipy's one-sided Welch tests on shifted rows give each p independently.
    lower = stats.ttest_ind(np.add(a, margin), b, equal_var=False, alternative="greater").pvalue
    upper = stats.ttest_ind(np.subtract(a, margin), b, equal_var=False, alternative="less").pvalue
    assert found.p_equivalent(margin) == pytest.approx(max(lower, upper), rel=1e-10)
    assert found.p_equivalent(margin) < 0.05  # within ±0.01: equivalent
    assert found.p_equivalent(0.001) > 0.5  # not within ±0.001
    beyond = stats.ttest_ind(np.subtract(a, 0.001), b, equal_var=False, alternative="greater").pvalue
    far = welch(np.add(a, 0.05), b)
    assert far.p_beyond(0.01) == pytest.approx(
        stats.ttest_ind(np.add(a, 0.05 - 0.01), b, equal_var=False, alternative="greater").pvalue, rel=1e-10)
    assert far.p_beyond(0.01) < 0.05 and 0 < beyond < 1


def test_holm_by_hand():
    # m = 4: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> made non-decreasing: 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []
    # Holm rejects exactly where its step-down rule says: p_(k) <= alpha / (m - k) until the first failure.
    p = [0.001, 0.012, 0.03, 0.04]  # 0.001 <= 0.05/4, 0.012 <= 0.05/3, 0.03 > 0.05/2: stop
    assert [x < 0.05 for x in holm(p)] == [True, True, False, False]


def test_clopper_pearson_interval_and_fishers_exact_test():
    one_of_three = rate(1, 3)
    assert (one_of_three.ci_low, one_of_three.ci_high) == (pytest.approx(0.0084, abs=1e-4), pytest.approx(0.9057, abs=1e-4))
    # The exact interval's ends are beta quantiles (Clopper and Pearson, 1934).
    low, high = stats.beta.ppf(0.025, 3, 8), stats.beta.ppf(0.975, 4, 7)
    three_of_ten = rate(3, 10)
    assert three_of_ten.ci_low == pytest.approx(low, rel=1e-9) and three_of_ten.ci_high == pytest.approx(high, rel=1e-9)
    assert rate(0, 10).ci_low == 0.0 and rate(10, 10).ci_high == 1.0
    assert fisher_exact(rate(1, 3), rate(0, 3)) == pytest.approx(1.0)
    # 7 of 10 against 1 of 10: the hypergeometric tail computed directly.
    tail = sum(stats.hypergeom.pmf(k, 20, 8, 10) for k in range(0, 11) if stats.hypergeom.pmf(k, 20, 8, 10)
               <= stats.hypergeom.pmf(7, 20, 8, 10) * (1 + 1e-7))
    assert fisher_exact(rate(7, 10), rate(1, 10)) == pytest.approx(tail, rel=1e-9)


def test_mean_and_standard_error():
    assert mean_and_standard_error([1.0, 2.0, 3.0]) == (2.0, pytest.approx(1 / math.sqrt(3)))
    assert mean_and_standard_error([4.0, None, math.nan]) == (4.0, None)
    assert math.isnan(mean_and_standard_error([])[0])


@pytest.mark.parametrize("n_a, n_b, effect", [(5, 5, 2.0), (5, 10, 1.0), (10, 10, 1.5)])
def test_t_test_power_matches_the_rejection_rate_of_simulated_t_tests(n_a, n_b, effect):
    """The noncentral-t power against scipy's t-test on 40,000 simulated pairs of rows (binomial s.e. <= 0.0025)."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (40_000, n_a))
    b = rng.normal(effect, 1.0, (40_000, n_b))
    simulated = float((stats.ttest_ind(a, b, axis=1).pvalue < 0.05).mean())
    assert t_test_power(n_a, n_b, effect) == pytest.approx(simulated, abs=0.01)
    assert t_test_power(n_a, n_b, effect) == pytest.approx(t_test_power(n_b, n_a, effect))


@pytest.mark.parametrize("n, margin, difference", [(5, 2.0, 0.0), (10, 1.5, 0.0), (20, 1.0, 0.0), (10, 1.5, 0.5)])
def test_equivalence_power_is_close_to_the_rate_of_simulated_two_one_sided_tests(n, margin, difference):
    """TOST (both one-sided pooled t-tests at 0.05) on 40,000 simulated pairs of rows that truly differ by
    ``difference``. The formula takes the standard error as known: it runs up to 0.025 under the simulated rate
    (most at few seeds), never over."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(difference, 1.0, (40_000, n)), rng.normal(0.0, 1.0, (40_000, n))
    above = stats.ttest_ind(a + margin, b, axis=1, alternative="greater").pvalue < 0.05
    below = stats.ttest_ind(a - margin, b, axis=1, alternative="less").pvalue < 0.05
    simulated = float((above & below).mean())
    assert simulated - 0.025 <= equivalence_power(n, 1.0, margin, difference) <= simulated + 0.005
    assert equivalence_power(n, 1.0, margin, -difference) == equivalence_power(n, 1.0, margin, difference)


def test_seeds_for_equivalence_is_the_fewest_seeds_that_reach_the_power_at_the_observed_difference():
    a, b = [0.597, 0.592, 0.606], [0.597, 0.594, 0.598]
    sd = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    difference = np.mean(a) - np.mean(b)
    n = seeds_for_equivalence(a, b, 0.01)
    assert equivalence_power(n, sd, 0.01, difference) >= 0.8 > equivalence_power(n - 1, sd, 0.01, difference)
    assert seeds_for_equivalence(a, b, 10.0) == 2  # a margin far beyond the spread: the fewest seeds that test
    assert seeds_for_equivalence([0.5], b, 0.01) is None  # one seed gives no spread
    assert seeds_for_equivalence(a, b, abs(difference)) is None  # a difference on the margin: never shown inside
    assert seeds_for_equivalence(a, b, 1e-3, most=50) is None  # more seeds than worth trying
    # rows without spread: the resolution floor decides, as in welch
    floored = seeds_for_equivalence([0.41] * 3, [0.41] * 3, 0.05, resolution=0.01)
    assert floored == seeds_for_equivalence([0.0, 0.01 / math.sqrt(6)], [0.0, 0.01 / math.sqrt(6)], 0.05)


def test_paired_matches_scipys_related_samples_t_test_and_its_interval():
    from tf3dgan.evaluation.seed_statistics import paired

    early, late = [0.612, 0.598, 0.603, 0.640, 0.607], [0.606, 0.593, 0.597, 0.633, 0.602]
    found = paired(early, late)
    reference = stats.ttest_rel(early, late)
    assert found.p == pytest.approx(reference.pvalue, rel=1e-12) and found.df == 4
    assert found.t == pytest.approx(reference.statistic, rel=1e-12)
    interval = reference.confidence_interval(0.95)
    assert (found.ci_low, found.ci_high) == (pytest.approx(interval.low, rel=1e-10), pytest.approx(interval.high, rel=1e-10))
    assert (found.n_a, found.n_b, found.paired) == (5, 5, True)
    # the seed-to-seed spread (0.640 against 0.598) cancels: Welch on the same numbers cannot see the shift
    assert found.p < 0.05 < welch(early, late).p
    # a pair with a side missing is no pair; one pair is no test
    assert paired([0.5, None, 0.7], [0.4, 0.3, 0.5]).n_a == 2
    assert paired([0.5, None], [0.4, 0.3]) is None


def test_paired_differences_are_floored_at_two_roundings():
    from tf3dgan.evaluation.seed_statistics import paired

    found = paired([2.5, 3.0, 1.75], [2.25, 2.75, 1.5], resolution=0.25)  # every difference exactly 0.25
    se = math.sqrt((0.25**2 / 6) / 3)
    assert found.standard_error == pytest.approx(se) and found.no_spread
    assert found.p == pytest.approx(2 * stats.t.sf(0.25 / se, 2), rel=1e-9)


def test_paired_seeds_for_equivalence_use_the_spread_of_the_differences():
    early = [0.41, 0.47, 0.44, 0.50, 0.43, 0.46]
    late = [x + 0.01 for x in early]  # the same shift on every seed: tiny spread of the differences
    unpaired = seeds_for_equivalence(early, late, 0.05, resolution=0.01)
    pairs = seeds_for_equivalence(early, late, 0.05, resolution=0.01, paired=True)
    assert pairs < unpaired
    sd = 0.01 / math.sqrt(6)  # the floor: the differences have no spread of their own
    assert equivalence_power(pairs, sd, 0.05, -0.01, paired=True) >= 0.8
    assert equivalence_power(pairs - 1, sd, 0.05, -0.01, paired=True) < 0.8 or pairs == 2
    # by hand: se = sd / sqrt(n) on n - 1 degrees of freedom
    n, d, margin = 4, 0.01, 0.05
    se, crit = sd / math.sqrt(n), stats.t.ppf(0.95, n - 1)
    expected = stats.t.cdf((margin - d) / se - crit, n - 1) + stats.t.cdf((margin + d) / se - crit, n - 1) - 1
    assert equivalence_power(n, sd, margin, d, paired=True) == pytest.approx(max(0.0, expected))
