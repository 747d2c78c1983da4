"""The intervals and the test T2 reports with do what they claim: coverage and false-positive rate
near their nominal levels (simulated, seeded), a real effect found, a reversed one contradicted."""

import random
import statistics

import pytest

from autospace import stats


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
