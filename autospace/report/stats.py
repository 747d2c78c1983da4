"""The uncertainty a comparison is reported with: a confidence interval for a mean over seeds, and
a one-sided test of "the learned space beats this one" with the effect's interval and a verdict
that says "inconclusive" when the data cannot tell (issue #16: within-noise differences are not
findings). scipy.stats does the arithmetic; this module fixes which test and which words."""

from __future__ import annotations

import math
import statistics

import numpy as np
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


def mann_whitney_greater(a: list[float], b: list[float], level: float = LEVEL) -> dict | None:
    """Does ``a`` tend to lie above ``b``? The one-sided Mann-Whitney U test (rank-based: no
    normality assumed, which matters for accuracies of random architectures), with U's
    common-language effect size P(a > b) + P(a = b) / 2, and the difference of means with its
    Welch interval (:func:`greater`) so that :func:`verdict` can say "contradicted". None when
    either group has fewer than two values."""
    welch = greater(a, b, level)
    if welch is None:
        return None
    result = _scipy.mannwhitneyu(a, b, alternative="greater")
    return {**welch, "p": float(result.pvalue), "welch_p": welch["p"], "u": float(result.statistic),
            "p_a_above_b": float(result.statistic) / (len(a) * len(b))}


def ols(y: list[float], columns: dict[str, list[float]], level: float = LEVEL) -> dict[str, dict]:
    """Least squares of ``y`` on an intercept and ``columns`` (name -> regressor values, e.g. a
    0/1 indicator per space and MAdds): per coefficient (``intercept`` first) its estimate,
    standard error, two-sided ``level`` t-interval and two-sided p-value (residual degrees of
    freedom n - k). Raises ValueError when there are no residual degrees of freedom or the
    regressors are collinear."""
    names = ["intercept", *columns]
    x = np.column_stack([np.ones(len(y)), *(np.asarray(columns[c], dtype=float) for c in columns)])
    y_arr = np.asarray(y, dtype=float)
    n, k = x.shape
    if n <= k or np.linalg.matrix_rank(x) < k:
        raise ValueError(f"regression: {n} observations cannot fit {k} coefficients ({names})")
    beta, *_ = np.linalg.lstsq(x, y_arr, rcond=None)
    resid = y_arr - x @ beta
    df = n - k
    cov = float(resid @ resid) / df * np.linalg.inv(x.T @ x)
    t_crit = float(_scipy.t.ppf(0.5 + level / 2, df))
    out = {}
    for i, name in enumerate(names):
        se = math.sqrt(cov[i, i])
        est = float(beta[i])
        p = float(2 * _scipy.t.sf(abs(est / se), df)) if se > 0 else 0.0
        out[name] = {"estimate": est, "se": se, "lo": est - t_crit * se, "hi": est + t_crit * se, "p": p, "df": df}
    return out


def kendall_tau(x: list[float], y: list[float], boot: int = 2000, seed: int = 0,
                level: float = LEVEL) -> dict | None:
    """Kendall's tau-b between ``x`` and ``y`` (e.g. fitness and stand-alone accuracy), its
    one-sided p-value for tau > 0, and a percentile bootstrap ``level`` interval over ``boot``
    resamples of the pairs (seeded: the same data give the same interval; resamples with a
    constant side, where tau is undefined, are dropped; ``boot=0``: no interval, NaN). None for
    fewer than three pairs."""
    if len(x) != len(y):
        raise ValueError("kendall_tau: x and y differ in length")
    if len(x) < 3:
        return None
    result = _scipy.kendalltau(x, y, alternative="greater")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), (boot, len(x)))
    taus = tau_b(np.asarray(x, dtype=float)[idx], np.asarray(y, dtype=float)[idx])
    taus = taus[~np.isnan(taus)]
    lo, hi = np.quantile(taus, [0.5 - level / 2, 0.5 + level / 2]).tolist() if len(taus) else (math.nan, math.nan)
    return {"tau": float(result.statistic), "p": float(result.pvalue), "lo": lo, "hi": hi,
            "n": len(x), "resamples": int(len(taus))}


def tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of ``x`` and ``y`` (shape (rows, n)), as
    ``scipy.stats.kendalltau`` computes it (ties counted), vectorised over the rows for the
    bootstrap; NaN for a row with a constant side."""
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    concordance = (sx * sy).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return concordance / np.sqrt((sx != 0).sum((1, 2)) * (sy != 0).sum((1, 2)))
