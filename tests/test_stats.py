"""The intervals and the test T2 reports with do what they claim: coverage and false-positive rate
near their nominal levels (simulated, seeded), a real effect found, a reversed one contradicted."""

import random
import statistics

import pytest

from autospace.report import stats


def _draws(rng, n, mean, sd=1.0):
    return [rng.gauss(mean, sd) for _ in range(n)]


@pytest.mark.parametrize("n", [3, 5])
def test_the_mean_interval_covers_the_true_mean_95_percent_of_the_time(n):
    rng = random.Random(n)
    trials = 2000
    covered = sum(lo <= 10.0 <= hi for lo, hi in (stats.mean_ci(_draws(rng, n, 10.0)) for _ in range(trials)))
    # binomial(2000, 0.95): 3 standard deviations are about +-1.5 points
    assert 0.935 <= covered / trials <= 0.965
    assert stats.mean_ci([1.0]) is None and stats.mean_ci([2.0, 2.0]) == (2.0, 2.0)


def test_the_one_sided_test_holds_its_false_positive_rate_and_finds_a_real_effect():
    rng = random.Random(0)
    trials = 2000
    null = [stats.greater(_draws(rng, 3, 0.0), _draws(rng, 3, 0.0, sd=2.0)) for _ in range(trials)]
    rate = sum(t["p"] < stats.ALPHA for t in null) / trials
    assert 0.035 <= rate <= 0.065, rate  # Welch's test is close to exact for normal data
    assert sum(stats.verdict(t) == "contradicted" for t in null) / trials <= 0.04
    assert sum(t["lo"] <= 0.0 <= t["hi"] for t in null) / trials >= 0.93
    # a 3-sd effect with 5 seeds a side is found nearly always; reversed, it is contradicted
    found = [stats.greater(_draws(rng, 5, 3.0), _draws(rng, 5, 0.0)) for _ in range(200)]
    assert sum(stats.verdict(t) == "shown" for t in found) / 200 >= 0.95
    assert all(t["lo"] < t["diff"] < t["hi"] for t in found)
    reversed_ = [stats.greater(_draws(rng, 5, 0.0), _draws(rng, 5, 3.0)) for _ in range(200)]
    assert sum(stats.verdict(t) == "contradicted" for t in reversed_) / 200 >= 0.9


def test_no_test_without_two_seeds_a_side_or_any_spread():
    assert stats.greater([1.0], [0.0, 0.5]) is None
    assert stats.greater([1.0, 1.0], [0.0, 0.0]) is None
    assert stats.verdict(None) == stats.NO_TEST
    one_sided = stats.greater([1.0, 1.0], [0.0, 0.5])  # spread in one group only still has a test
    assert one_sided["diff"] == pytest.approx(1.0 - statistics.fmean([0.0, 0.5])) and one_sided["p"] < 0.5


def test_the_p_value_is_scipys_welch_test():
    from scipy.stats import ttest_ind

    a, b = [71.2, 73.9, 72.5, 70.1], [70.3, 69.8, 72.0]
    assert stats.greater(a, b)["p"] == pytest.approx(ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)


def test_the_rank_test_holds_its_level_on_skewed_data_and_finds_a_shift():
    rng = random.Random(1)
    trials = 1000

    def skewed(n, shift=0.0):  # accuracies of random architectures: a long low tail
        return [shift - rng.expovariate(1.0) for _ in range(n)]

    null = [stats.mann_whitney_greater(skewed(10), skewed(10)) for _ in range(trials)]
    rate = sum(t["p"] < stats.ALPHA for t in null) / trials
    assert 0.025 <= rate <= 0.07, rate
    shifted = [stats.mann_whitney_greater(skewed(10, 1.5), skewed(10)) for _ in range(200)]
    assert sum(stats.verdict(t) == "shown" for t in shifted) / 200 >= 0.8
    assert all(0.5 < t["p_a_above_b"] <= 1.0 for t in shifted[:20] if t["p"] < 0.05)
    assert stats.mann_whitney_greater([1.0], [0.0, 1.0]) is None


def test_the_rank_test_is_scipys_mann_whitney():
    from scipy.stats import mannwhitneyu

    a, b = [71.2, 73.9, 72.5, 70.1, 74.0], [70.3, 69.8, 72.0, 70.5]
    t = stats.mann_whitney_greater(a, b)
    assert t["p"] == pytest.approx(mannwhitneyu(a, b, alternative="greater").pvalue)
    assert t["u"] == mannwhitneyu(a, b).statistic and t["diff"] == pytest.approx(statistics.fmean(a) - statistics.fmean(b))


def test_the_regression_recovers_planted_coefficients_and_their_intervals_cover():
    rng = random.Random(2)
    covered, trials = 0, 300
    for _ in range(trials):
        space = [i % 3 for i in range(30)]
        madds = [rng.uniform(7.5, 8.4) for _ in space]
        y = [80 - 1.0 * (s == 1) - 2.0 * (s == 2) + 0.5 * m + rng.gauss(0, 0.5) for s, m in zip(space, madds)]
        fit = stats.ols(y, {"b": [float(s == 1) for s in space], "c": [float(s == 2) for s in space], "madds": madds})
        covered += fit["c"]["lo"] <= -2.0 <= fit["c"]["hi"]
    assert 0.92 <= covered / trials <= 0.98
    assert fit["b"]["estimate"] == pytest.approx(-1.0, abs=0.6) and fit["c"]["p"] < 0.001
    import numpy as np

    x = np.column_stack([np.ones(30), [float(s == 1) for s in space], [float(s == 2) for s in space], madds])
    assert [fit[k]["estimate"] for k in ("intercept", "b", "c", "madds")] == pytest.approx(
        np.linalg.lstsq(x, np.array(y), rcond=None)[0].tolist())
    with pytest.raises(ValueError, match="cannot fit"):
        stats.ols([1.0, 2.0], {"a": [0.0, 1.0]})  # no residual degree of freedom
    with pytest.raises(ValueError, match="cannot fit"):
        stats.ols([1.0, 2.0, 3.0, 4.0], {"a": [0.0, 1.0, 0.0, 1.0], "b": [0.0, 2.0, 0.0, 2.0]})  # collinear


def test_kendall_tau_with_its_bootstrap_interval():
    rng = random.Random(3)
    x = [rng.random() for _ in range(12)]
    monotone = stats.kendall_tau(x, [10 * v + 1 for v in x])
    assert monotone["tau"] == pytest.approx(1.0) and monotone["p"] < 0.001 and monotone["lo"] == pytest.approx(1.0)
    noisy = stats.kendall_tau(x, [v + rng.gauss(0, 0.3) for v in x])
    assert noisy["lo"] <= noisy["tau"] <= noisy["hi"] and noisy["hi"] - noisy["lo"] > 0.2
    assert stats.kendall_tau(x, [v + rng.gauss(0, 0.3) for v in x], seed=5) != noisy  # other noise
    assert stats.kendall_tau(x, [v + 0 for v in x], seed=0) == stats.kendall_tau(x, list(x), seed=0)  # seeded
    unrelated = [stats.kendall_tau([rng.random() for _ in range(10)], [rng.random() for _ in range(10)])
                 for _ in range(300)]
    assert sum(t["p"] < 0.05 for t in unrelated) / 300 <= 0.09
    assert sum(t["lo"] <= 0.0 <= t["hi"] for t in unrelated) / 300 >= 0.85
    assert stats.kendall_tau([1.0, 2.0], [2.0, 1.0]) is None


def test_the_bootstrap_tau_is_scipys_tau_b_ties_included():
    import numpy as np
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, (50, 9)).astype(float), rng.integers(0, 5, (50, 9)).astype(float)  # many ties
    x[0] = 1.0  # a constant row: undefined
    ours = stats.tau_b(x, y)
    assert np.isnan(ours[0])
    assert ours[1:].tolist() == pytest.approx([kendalltau(a, b).statistic for a, b in zip(x[1:], y[1:])])
