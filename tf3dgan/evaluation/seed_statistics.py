"""Mean, standard error and a two-standard-error significance test over training seeds."""

from __future__ import annotations

import math

import numpy as np


def mean_and_standard_error(values) -> tuple[float, float | None]:
    """The mean of ``values`` (NaNs dropped) and its standard error ``std(ddof=1) / sqrt(n)`` (None when n < 2)."""
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return math.nan, None
    if len(x) < 2:
        return float(x[0]), None
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def binomial_standard_error(accuracy: float, n: int) -> float:
    """Standard error ``sqrt(p (1 - p) / n)`` of an accuracy measured on ``n`` test items."""
    return math.sqrt(accuracy * (1.0 - accuracy) / n) if n > 0 else math.nan


def difference_standard_error(se_a: float | None, se_b: float | None) -> float | None:
    """The standard error of the difference of two independent means, ``sqrt(se_a^2 + se_b^2)`` (None when
    either is unknown)."""
    return None if se_a is None or se_b is None else math.sqrt(se_a**2 + se_b**2)


def differs_significantly(mean_a: float, se_a: float | None, mean_b: float, se_b: float | None) -> bool | None:
    """Whether two means differ by more than two standard errors of their difference.

    None when either standard error is unknown (a single seed): no judgement is possible.
    """
    se = difference_standard_error(se_a, se_b)
    if se is None or math.isnan(mean_a) or math.isnan(mean_b):
        return None
    return abs(mean_a - mean_b) > 2.0 * se
