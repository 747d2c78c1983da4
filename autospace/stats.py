"""The uncertainty a comparison is reported with: a confidence interval for a mean over seeds, and
a one-sided test of "the learned space beats this one" with the effect's interval and a verdict
that says "inconclusive" when the data cannot tell (issue #16: within-noise differences are not
findings). scipy.stats does the arithmetic; this module fixes which test and which words."""

from __future__ import annotations

import math
import statistics

from scipy import stats as _scipy

#: Two-sided confidence level of every interval, and the one-sided test's significance level.
LEVEL = 0.95
ALPHA = 0.05
#: The test behind ``p`` (its name goes into the table's column and caption).
TEST = "Welch's t-test, one-sided"
ONE_SEED = "– (one seed: no interval)"
NO_TEST = "– (no test: fewer than two seeds in a group, or no spread)"


def mean_ci(values: list[float], level: float = LEVEL) -> tuple[float, float] | None:
    """Student-t interval for the mean of ``values`` (seeds as independent draws); None for
    fewer than two values. A constant sample gives the point interval (mean, mean)."""
    if len(values) < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = _scipy.t.ppf(0.5 + level / 2, len(values) - 1) * sd / math.sqrt(len(values))
    return mean - half, mean + half


def greater(a: list[float], b: list[float], level: float = LEVEL) -> dict | None:
    """Is the mean of ``a`` above the mean of ``b``? Welch's t-test (unequal variances), one-sided
    p-value for mean(a) > mean(b), with the difference of means and its two-sided Welch interval.
    None when either group has fewer than two values or neither has any spread (no test exists)."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return None
    diff = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0.0) + (vb ** 2 / (len(b) - 1) if vb else 0.0))
    half = _scipy.t.ppf(0.5 + level / 2, df) * se
    p = float(_scipy.t.sf(diff / se, df))  # = scipy.stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    return {"diff": diff, "lo": diff - half, "hi": diff + half, "p": p, "df": df}


def verdict(test: dict | None, alpha: float = ALPHA) -> str:
    """"shown" (p < alpha), "contradicted" (the interval lies wholly below 0: a is worse), else
    "inconclusive"; with no test, why none was possible."""
    if test is None:
        return NO_TEST
    if test["p"] < alpha:
        return "shown"
    if test["hi"] < 0:
        return "contradicted"
    return "inconclusive"
