"""Statistics over seeds, on cases with known answers (seeded simulations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ganbench import stats


def test_t_interval_matches_the_textbook_formula():
    values = [58.3, 58.3, 104.0]
    got = stats.mean_interval(values)
    mean, s = np.mean(values), np.std(values, ddof=1)
    half = scipy_stats.t.ppf(0.975, 2) * s / math.sqrt(3)
    assert got.method == stats.T_METHOD
    assert got.estimate == pytest.approx(mean)
    assert (got.low, got.high) == pytest.approx((mean - half, mean + half))


@pytest.mark.parametrize("n", [3, 5])
def test_t_interval_covers_the_true_mean_about_95_percent_of_the_time(n):
    rng = np.random.default_rng(0)
    hits = 0
    trials = 2000
    for _ in range(trials):
        values = rng.normal(10.0, 3.0, n)
        interval = stats.mean_interval(values)
        hits += interval.low <= 10.0 <= interval.high
    assert 0.93 <= hits / trials <= 0.97


def test_bootstrap_from_ten_seeds_is_reproducible_and_covers():
    rng = np.random.default_rng(1)
    values = rng.normal(5.0, 1.0, 12)
    a, b = stats.mean_interval(values), stats.mean_interval(values)
    assert a.method == stats.BCA_METHOD and (a.low, a.high) == (b.low, b.high)
    assert a.low < np.mean(values) < a.high
    trials, hits = 400, 0
    for _ in range(trials):
        interval = stats.mean_interval(rng.normal(5.0, 1.0, 12))
        hits += interval.low <= 5.0 <= interval.high
    # BCa undercovers a little at n = 12 (about 91-93% for normal data): that is why ganbench
    # uses Student t below 10 seeds
    assert 0.87 <= hits / trials <= 0.97


def test_single_seed_and_constant_values():
    one = stats.mean_interval([4.0])
    assert (one.estimate, one.low, one.high) == (4.0, None, None)
    assert not one.excludes_zero()
    flat = stats.mean_interval([2.0, 2.0, 2.0])
    assert (flat.low, flat.high) == (2.0, 2.0)
    with pytest.raises(ValueError, match="finite"):
        stats.mean_interval([1.0, float("nan")])


def test_welch_interval_matches_scipy():
    a, b = [1.0, 2.0, 4.0, 3.0], [5.0, 7.0, 6.5]
    diff = stats.difference_interval(a, b)
    result = scipy_stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(0.95)
    assert diff.method == stats.WELCH_METHOD
    assert (diff.low, diff.high) == pytest.approx((ci.low, ci.high))


def test_identical_distributions_come_out_indistinguishable():
    rng = np.random.default_rng(2)
    same = 0
    trials = 1000
    for _ in range(trials):
        a, b = rng.normal(0, 1, 3), rng.normal(0, 1, 3)
        same += stats.verdict(stats.difference_interval(a, b), -1) == stats.SAME
    assert same / trials >= 0.93  # the interval's level, up to simulation noise


def test_a_shift_of_several_standard_deviations_is_detected():
    rng = np.random.default_rng(3)
    found = 0
    trials = 500
    for _ in range(trials):
        better, worse = rng.normal(10, 1, 3), rng.normal(16, 1, 3)  # lower is better
        found += stats.verdict(stats.difference_interval(better, worse), -1) == stats.BETTER
    assert found / trials >= 0.9


def test_probability_of_improvement_counts_seed_pairs_and_ties_half():
    assert stats.probability_of_improvement([1, 2], [3, 4], -1) == 1.0
    assert stats.probability_of_improvement([1, 2], [3, 4], +1) == 0.0
    assert stats.probability_of_improvement([1, 3], [2, 2], -1) == 0.5
    assert stats.probability_of_improvement([2], [2], -1) == 0.5
    # the seeds: cgan FID 58.3, 58.3, 104.0 vs wgan_gp 84.4, 107.3, 103.1
    p = stats.probability_of_improvement([58.3, 58.3, 104.0], [84.4, 107.3, 103.1], -1)
    assert p == pytest.approx(7 / 9)
    verdict = stats.verdict(stats.difference_interval([58.3, 58.3, 104.0],
                                                      [84.4, 107.3, 103.1]), -1)
    assert verdict == stats.SAME  # the point: 26 FID points apart, indistinguishable


def test_ranks_share_places_when_no_comparison_tells_them_apart():
    # a ~ b, both beat c; d beats nobody and nobody beats it
    ranks = stats.ranks({"a": {"c"}, "b": {"c"}, "c": set(), "d": set()})
    assert ranks == {"a": 1, "b": 1, "c": 3, "d": 1}
    # non-transitive: a beats c only
    assert stats.ranks({"a": {"c"}, "b": set(), "c": set()}) == {"a": 1, "b": 1, "c": 2}


def test_ranking_words_never_call_a_pair_with_a_win_indistinguishable():
    """Significance is not transitive, so two variants can share a rank while one beats the
    other; the sentence must then say "share rank", not "indistinguishable"."""
    from ganbench.aggregate import ranking_sentences
    from ganbench.stats import ranks
    beats = {"c": {"a"}, "d": {"a", "b"}, "a": {"b"}, "b": set()}
    comparison = {"ranks": ranks(beats), "beats": {v: sorted(b) for v, b in beats.items()}}
    assert comparison["ranks"] == {"c": 1, "d": 1, "a": 3, "b": 3}
    words = " ".join(ranking_sentences(comparison, "judge.fid", {v: 3 for v in "abcd"}))
    assert "a and b share rank 3 on judge FID" in words
    assert "a and b are indistinguishable" not in words
    assert "a beats b on judge FID." in words
    assert "c and d are indistinguishable on judge FID at 3 seeds." in words
    assert "d beats a and b on judge FID." in words


def test_a_variant_alone_in_its_group_is_not_called_indistinguishable():
    from ganbench.aggregate import ranking_sentences
    words = ranking_sentences({"ranks": {"cyc": 1}, "beats": {"cyc": []}}, "judge.fid",
                              {"cyc": 3})
    assert words == ["Only cyc has judge FID here: there is nothing to compare it with."]
