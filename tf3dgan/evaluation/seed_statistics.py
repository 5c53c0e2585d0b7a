"""The statistics that judge rows of training seeds against each other (scipy.stats does the arithmetic).

- A difference of means: Welch's t-test (unequal variances, Welch-Satterthwaite degrees of freedom), two-sided,
  with the difference's confidence interval. Each row's standard deviation is floored at its score's
  resolution / sqrt(12) (the spread of rounding to that step), so a row whose seeds agree exactly does not make
  every difference significant.
- Two scorings of the same trainings (each seed at two steps): the paired t-test on the per-seed differences,
  their standard deviation floored at resolution / sqrt(6) (two roundings).
- "The same": two one-sided tests (TOST) against a declared margin: equivalent when the difference is
  significantly inside (-margin, +margin); "not equivalent" when it is significantly beyond the margin.
- Several expectations at once: Holm's step-down correction over a suite's family of tests.
- Outcomes that split in two (a seed collapses or not): k of n with the exact Clopper-Pearson interval, two rows
  compared by Fisher's exact test.
- Power: the chance that the t-test finds a true difference of a given size with the seeds at hand, and the
  seeds a row (or pairs) that TOST would need to show two rows the same within a margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # the suites' significance level, for every test here


def finite_values(values) -> np.ndarray:
    """``values`` as float64 with None and NaN dropped."""
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return x[~np.isnan(x)]


def mean_and_standard_error(values) -> tuple[float, float | None]:
    """The mean of ``values`` (None and NaN dropped) and its standard error ``std(ddof=1) / sqrt(n)`` (None when
    n < 2)."""
    x = finite_values(values)
    if len(x) == 0:
        return math.nan, None
    if len(x) < 2:
        return float(x[0]), None
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def binomial_standard_error(accuracy: float, n: int) -> float:
    """Standard error ``sqrt(p (1 - p) / n)`` of an accuracy measured on ``n`` test items."""
    return math.sqrt(accuracy * (1.0 - accuracy) / n) if n > 0 else math.nan


@dataclass(frozen=True)
class Difference:
    """Welch's comparison of row ``a`` with row ``b`` (or with a constant, then ``n_b`` is 0)."""
    n_a: int
    n_b: int
    difference: float  # mean of a minus mean of b
    standard_error: float  # of the difference, with the resolution floor
    df: float  # Welch-Satterthwaite degrees of freedom
    p: float  # two-sided p of "no difference"
    ci_low: float  # the difference's (1 - alpha) confidence interval
    ci_high: float
    no_spread: bool  # every seed of both rows gave the same value: the score cannot tell the rows apart
    paired: bool = False  # a paired t-test on per-seed differences (n_a == n_b: the pairs)

    @property
    def t(self) -> float:
        return self.difference / self.standard_error

    def p_equivalent(self, margin: float) -> float:
        """TOST: p of "the difference lies outside (-margin, +margin)" (the larger of the two one-sided p)."""
        lower = stats.t.sf((self.difference + margin) / self.standard_error, self.df)  # H0: difference <= -margin
        upper = stats.t.cdf((self.difference - margin) / self.standard_error, self.df)  # H0: difference >= margin
        return float(max(lower, upper))

    def p_beyond(self, margin: float) -> float:
        """One-sided p of "the difference lies within the margin" (small: it lies beyond it)."""
        return float(stats.t.sf((abs(self.difference) - margin) / self.standard_error, self.df))


def _floored_variance(values: np.ndarray, resolution: float) -> float:
    """A row's sample variance, floored at that of rounding to the score's ``resolution`` (resolution^2 / 12)."""
    return max(float(values.var(ddof=1)), resolution**2 / 12.0)


def welch(a, b, resolution: float = 0.0, alpha: float = ALPHA) -> Difference | None:
    """Welch's t-test of ``mean(a) - mean(b)``, ``b`` a sequence of values or one constant (then a one-sample t-test).
    None when a row has fewer than two finite values. ``resolution``: the score's smallest step."""
    x = finite_values(a)
    constant = np.ndim(b) == 0
    y = finite_values([b] if constant else b)
    if len(x) < 2 or len(y) < (1 if constant else 2):
        return None
    var_x = _floored_variance(x, resolution) / len(x)
    var_y = 0.0 if constant else _floored_variance(y, resolution) / len(y)
    se = math.sqrt(var_x + var_y)
    if constant:
        df = len(x) - 1.0
    else:
        df = (var_x + var_y) ** 2 / (var_x**2 / (len(x) - 1) + var_y**2 / (len(y) - 1))
    no_spread = bool(np.ptp(x) == 0 and (constant or np.ptp(y) == 0))
    return _t_test(len(x), 0 if constant else len(y), float(x.mean() - y.mean()), se, df, no_spread, alpha)


def _t_test(n_a: int, n_b: int, difference: float, se: float, df: float, no_spread: bool, alpha: float,
            paired: bool = False) -> Difference:
    """The two-sided test and interval of ``difference`` with standard error ``se`` on ``df`` degrees of freedom."""
    if se == 0.0:  # no spread and no resolution given: nothing to test with
        p, half = (1.0 if difference == 0 else 0.0), 0.0
    else:
        p = float(2.0 * stats.t.sf(abs(difference) / se, df))
        half = float(stats.t.ppf(1.0 - alpha / 2.0, df) * se)
    return Difference(n_a, n_b, difference, se, float(df), p, difference - half, difference + half, no_spread, paired)


def _pair_differences(a, b) -> np.ndarray:
    """``a[i] - b[i]`` over the pairs with both sides finite."""
    return finite_values([x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None])


def _paired_variance(differences: np.ndarray, resolution: float) -> float:
    """The differences' variance, floored at two roundings to ``resolution`` (resolution^2 / 6)."""
    return _floored_variance(differences, math.sqrt(2.0) * resolution)


def paired(a, b, resolution: float = 0.0, alpha: float = ALPHA) -> Difference | None:
    """The paired t-test of ``mean(a - b)``, ``a[i]`` and ``b[i]`` the same training's scores (one seed at two
    steps); pairs with a missing or NaN side are dropped. None when fewer than two pairs remain."""
    d = _pair_differences(a, b)
    if len(d) < 2:
        return None
    se = math.sqrt(_paired_variance(d, resolution) / len(d))
    return _t_test(len(d), len(d), float(d.mean()), se, len(d) - 1.0, bool(np.ptp(d) == 0), alpha, paired=True)


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (reject where adjusted p < alpha): the k-th smallest
    of m is multiplied by m - k (k from 0), and the results are made non-decreasing in that order, capped at 1."""
    p = [float(v) for v in p_values]
    m = len(p)
    adjusted = [1.0] * m
    running = 0.0
    for k, index in enumerate(sorted(range(m), key=lambda i: p[i])):
        running = max(running, min(1.0, (m - k) * p[index]))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` trainings with an outcome, and the exact (Clopper-Pearson) interval of the rate."""
    k: int
    n: int
    ci_low: float
    ci_high: float

    @property
    def fraction(self) -> float:
        return self.k / self.n if self.n else math.nan


def rate(k: int, n: int, alpha: float = ALPHA) -> Rate:
    """The rate ``k / n`` with its (1 - alpha) Clopper-Pearson interval (0-1 when n is 0)."""
    if n == 0:
        return Rate(0, 0, 0.0, 1.0)
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=1.0 - alpha, method="exact")
    return Rate(k, n, float(interval.low), float(interval.high))


def fisher_exact(a: Rate, b: Rate) -> float:
    """Two-sided p of Fisher's exact test that two rates are equal."""
    return float(stats.fisher_exact([[a.k, a.n - a.k], [b.k, b.n - b.k]]).pvalue)


def t_test_power(n_a: int, n_b: int, effect: float, alpha: float = ALPHA) -> float:
    """The chance that a two-sided t-test at ``alpha`` on ``n_a`` and ``n_b`` seeds finds a true difference of
    ``effect`` within-row standard deviations: Student's t with n_a + n_b - 2 degrees of freedom and the noncentral
    t, for rows of equal spread, where the suites' Welch test is close to it."""
    df = n_a + n_b - 2
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = effect / math.sqrt(1.0 / n_a + 1.0 / n_b)
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def equivalence_power(n: int, sd: float, margin: float, difference: float = 0.0, alpha: float = ALPHA,
                      paired: bool = False) -> float:
    """The chance that TOST at ``alpha`` with ``n`` seeds in each of two rows of standard deviation ``sd`` shows
    them within ``±margin`` when they truly differ by ``difference``: ``T((margin - d) / se - t_crit) +
    T((margin + d) / se - t_crit) - 1`` with Student's t on 2n - 2 degrees of freedom, the standard
    approximation that takes the standard error as known. ``paired``: ``n`` pairs whose differences have
    standard deviation ``sd`` (se ``sd / sqrt(n)``, n - 1 degrees of freedom)."""
    if n < 2 or abs(difference) >= margin:
        return 0.0
    df = n - 1 if paired else 2 * n - 2
    standard_error = sd * math.sqrt((1.0 if paired else 2.0) / n)
    if standard_error == 0.0:
        return 1.0
    critical = stats.t.ppf(1 - alpha, df)
    d = abs(difference)
    near, far = ((margin - d) / standard_error - critical, (margin + d) / standard_error - critical)
    return float(max(0.0, stats.t.cdf(near, df) + stats.t.cdf(far, df) - 1.0))


def seeds_for_equivalence(a, b, margin: float, resolution: float = 0.0, power: float = 0.8, alpha: float = ALPHA,
                          most: int = 1000, paired: bool = False) -> int | None:
    """The fewest seeds a row for which TOST shows rows like ``a`` and ``b`` within ``±margin`` with ``power``,
    were their true difference the observed one (``equivalence_power`` at their pooled standard deviation,
    floored as in ``welch``; ``paired``: at the standard deviation of the per-seed differences, floored as in
    ``paired``); None when a row has fewer than two seeds, when the observed difference is not inside the margin,
    or above ``most``."""
    if paired:
        d = _pair_differences(a, b)
        if len(d) < 2:
            return None
        sd, difference = math.sqrt(_paired_variance(d, resolution)), float(d.mean())
    else:
        x, y = finite_values(a), finite_values(b)
        if len(x) < 2 or len(y) < 2:
            return None
        sd = math.sqrt((_floored_variance(x, resolution) + _floored_variance(y, resolution)) / 2.0)
        difference = float(x.mean() - y.mean())
    for n in range(2, most + 1):
        if equivalence_power(n, sd, margin, difference, alpha, paired) >= power:
            return n
    return None
