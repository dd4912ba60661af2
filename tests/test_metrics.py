"""Metric functions: parity with torch-fidelity / the PRDC reference code, and known answers.

Real computations on random features; torch-fidelity (a dev dependency) is the peer.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics as tf_fid_stats
from torch_fidelity.metric_fid import fid_statistics_to_metric as tf_fid
from torch_fidelity.metric_isc import isc_features_to_metric as tf_isc
from torch_fidelity.metric_kid import kid_features_to_metric as tf_kid
from torch_fidelity.metric_prc import prc_features_to_metric as tf_prc

from ganbench.metrics import (fid_features_to_statistics, fid_statistics_to_metric,
                              frechet_distance, inception_score_from_logits,
                              inception_score_from_probs, kid, prdc)
from ganbench.metrics.kid import _subset_mmds
from ganbench.metrics.prdc import _prdc

REL = 1e-6


def correlated(rng, n, d, shift=0.0, scale=1.0):
    """Gaussian features with a non-trivial covariance (a random mixing matrix)."""
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) @ mix) * scale + shift


# --------------------------------------------------------------------------- FID


@pytest.mark.parametrize("n1,n2,d", [(400, 300, 64), (40, 50, 64)])  # full rank; singular
def test_fid_matches_torch_fidelity(n1, n2, d):
    rng = np.random.default_rng(0)
    f1 = correlated(rng, n1, d)
    f2 = correlated(rng, n2, d, shift=0.3, scale=1.2)
    s1, s2 = fid_features_to_statistics(f1), fid_features_to_statistics(f2)
    t1, t2 = tf_fid_stats(torch.from_numpy(f1)), tf_fid_stats(torch.from_numpy(f2))
    np.testing.assert_array_equal(s1["mu"], t1["mu"])
    np.testing.assert_allclose(s1["sigma"], t1["sigma"], rtol=1e-12, atol=1e-15)
    ours = fid_statistics_to_metric(s1, s2)
    theirs = tf_fid(t1, t2, verbose=False)["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=REL)
    assert s1["mu"].dtype == s1["sigma"].dtype == np.float64


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(1)
    stats = fid_features_to_statistics(correlated(rng, 300, 32))
    assert fid_statistics_to_metric(stats, stats) == pytest.approx(0.0, abs=1e-9)


def test_fid_closed_form_for_commuting_covariances():
    rng = np.random.default_rng(2)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    a, b = rng.uniform(0.1, 3.0, size=d), rng.uniform(0.1, 3.0, size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2.0 * np.sqrt(a * b))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected,
                                                                                rel=1e-12)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))  # same eigenvectors: S1 and S2 commute
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    # 1-D sanity: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s1, s2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9.0 + 1.0)


def test_fid_validates_inputs():
    good = fid_features_to_statistics(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid_features_to_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="2-D"):
        fid_features_to_statistics(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        fid_features_to_statistics(np.array([[0.0, 1.0], [np.nan, 2.0]]))
    with pytest.raises(ValueError, match="dimension"):
        frechet_distance(good["mu"], good["sigma"], np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="square"):
        frechet_distance(good["mu"], good["sigma"][:2], good["mu"], good["sigma"])
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance(good["mu"], np.triu(np.ones((3, 3))), good["mu"], good["sigma"])
    with pytest.raises(ValueError, match="'mu' and 'sigma'"):
        fid_statistics_to_metric({"mu": good["mu"]}, good)


# --------------------------------------------------------------------------- IS


@pytest.mark.parametrize("n,splits,seed", [(1000, 10, 0), (1003, 10, 7), (257, 3, 2020)])
def test_is_matches_torch_fidelity(n, splits, seed):
    logits = np.random.default_rng(seed).normal(scale=3.0, size=(n, 20))
    mean, std = inception_score_from_logits(logits, splits=splits, seed=seed)
    # torch-fidelity shuffles with np.random.RandomState(rng_seed).permutation(N), as we do
    # with seed: the same seed gives the same split membership.
    ref = tf_isc(torch.from_numpy(logits), splits=splits, shuffle=True, rng_seed=seed)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=REL)
    assert std == pytest.approx(ref["inception_score_std"], rel=REL)


def test_is_shuffle_is_an_explicit_permutation():
    """The alignment made visible: our seed == torch-fidelity's unshuffled score on rows
    permuted by RandomState(seed); and another seed regroups the splits."""
    logits = np.random.default_rng(3).normal(scale=3.0, size=(500, 10))
    perm = np.random.RandomState(5).permutation(500)
    ref = tf_isc(torch.from_numpy(logits[perm]), splits=10, shuffle=False)
    mean, std = inception_score_from_logits(logits, splits=10, seed=5)
    assert (mean, std) == pytest.approx((ref["inception_score_mean"],
                                         ref["inception_score_std"]), rel=1e-12)
    assert inception_score_from_logits(logits, splits=10, seed=6)[1] != pytest.approx(std)


def test_is_from_probs_equals_from_logits():
    logits = np.random.default_rng(4).normal(scale=2.0, size=(300, 10))
    probs = torch.from_numpy(logits).softmax(dim=1).numpy()
    assert inception_score_from_probs(probs, seed=1) == pytest.approx(
        inception_score_from_logits(logits, seed=1), rel=1e-12)


def test_is_known_answers():
    uniform = np.full((100, 10), 0.1)
    assert inception_score_from_probs(uniform) == pytest.approx((1.0, 0.0))
    assert inception_score_from_logits(np.zeros((100, 10)))[0] == pytest.approx(1.0)
    one_hot = np.eye(10)[np.arange(1000) % 10]  # balanced: 100 of each class
    assert inception_score_from_probs(one_hot, splits=1) == pytest.approx((10.0, 0.0))
    mean, _ = inception_score_from_probs(one_hot, splits=10, seed=0)  # shuffled splits: <= 10
    assert 9.0 < mean <= 10.0
    collapsed = np.eye(10)[np.zeros(100, dtype=int)]  # mode collapse: one class
    assert inception_score_from_probs(collapsed, splits=2)[0] == pytest.approx(1.0)


def test_is_validates_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score_from_probs(np.ones((20, 4)))
    with pytest.raises(ValueError, match="negative"):
        inception_score_from_probs(np.array([[1.5, -0.5]] * 20))
    with pytest.raises(ValueError, match="at least 10 samples"):
        inception_score_from_logits(np.zeros((5, 3)), splits=10)


# --------------------------------------------------------------------------- KID


@pytest.mark.parametrize("gram_budget", [None, 0])  # precomputed Gram matrices; per subset
def test_kid_matches_torch_fidelity(gram_budget):
    rng = np.random.default_rng(5)
    f1 = correlated(rng, 300, 32, shift=0.2)
    f2 = correlated(rng, 250, 32)
    mmds = _subset_mmds(f1, f2, 20, 100, 3, None, 1.0, 11, gram_budget=gram_budget)
    ref = tf_kid(torch.from_numpy(f1), torch.from_numpy(f2), kid_subsets=20,
                 kid_subset_size=100, rng_seed=11, verbose=False)
    assert float(np.mean(mmds)) == pytest.approx(ref["kernel_inception_distance_mean"], rel=REL)
    assert float(np.std(mmds)) == pytest.approx(ref["kernel_inception_distance_std"], rel=REL)
    assert kid(f1, f2, subsets=20, subset_size=100, seed=11) == pytest.approx(
        (np.mean(mmds), np.std(mmds)), rel=1e-12)


def test_kid_known_answers():
    rng = np.random.default_rng(6)
    f = rng.normal(size=(400, 16))
    other = rng.normal(size=(300, 16))  # a second sample of the same distribution
    shifted = [kid(f, f + s, subsets=50, subset_size=200)[0] for s in (0.25, 0.5, 1.0)]
    assert 0 < shifted[0] < shifted[1] < shifted[2]
    same_mean, same_std = kid(f, other, subsets=50, subset_size=200)
    assert abs(same_mean) < 0.05 * shifted[0] and same_std > 0  # unbiased: scatters around 0


def test_kid_of_a_set_with_itself_is_the_closed_form():
    """A set against itself (subset = whole set): the unbiased estimator drops K_XX's
    diagonal but K_XY keeps it, so MMD^2 = (2/n) (mean off-diagonal k - mean diagonal k):
    O(1/n) and negative, as torch-fidelity's and Binkowski's code give too."""
    rng = np.random.default_rng(12)
    n, d = 150, 8
    f = rng.normal(size=(n, d))
    k = (f @ f.T / d + 1.0) ** 3
    off = (k.sum() - np.trace(k)) / (n * (n - 1))
    expected = (2.0 / n) * (off - np.trace(k) / n)
    mean, std = kid(f, f, subsets=3, subset_size=n)
    assert mean == pytest.approx(expected, rel=1e-9) and expected < 0
    assert std == pytest.approx(0.0, abs=1e-12)
    ref = tf_kid(torch.from_numpy(f), torch.from_numpy(f), kid_subsets=3, kid_subset_size=n,
                 verbose=False)
    assert ref["kernel_inception_distance_mean"] == pytest.approx(expected, rel=1e-9)


def test_kid_caps_the_subset_size_and_validates():
    rng = np.random.default_rng(7)
    mean, std = kid(rng.normal(size=(30, 4)), rng.normal(size=(50, 4)), subsets=5,
                    subset_size=1000)
    assert np.isfinite(mean) and np.isfinite(std)
    with pytest.raises(ValueError, match="same backbone"):
        kid(np.zeros((10, 3)), np.zeros((10, 4)))


# --------------------------------------------------------------------------- PRDC


def reference_prdc(real, fake, k):
    """clovaai/generative-evaluation-prdc ``compute_prdc`` (MIT), transcribed literally."""
    def kth(unsorted, kk):
        idx = np.argpartition(unsorted, kk, axis=-1)[..., :kk]
        return np.take_along_axis(unsorted, idx, axis=-1).max(axis=-1)

    real_r = kth(sklearn.metrics.pairwise_distances(real, real), k + 1)
    fake_r = kth(sklearn.metrics.pairwise_distances(fake, fake), k + 1)
    d = sklearn.metrics.pairwise_distances(real, fake)
    return dict(precision=(d < real_r[:, None]).any(axis=0).mean(),
                recall=(d < fake_r[None, :]).any(axis=1).mean(),
                density=(1.0 / k) * (d < real_r[:, None]).sum(axis=0).mean(),
                coverage=(d.min(axis=1) < real_r).mean())


@pytest.mark.parametrize("block_elements", [4_000_000, 1_000])  # one block; many blocks
def test_prdc_matches_reference_code(block_elements):
    rng = np.random.default_rng(8)
    real = rng.normal(size=(250, 16))
    fake = rng.normal(size=(300, 16)) * 1.3 + 0.2
    ours = _prdc(fake, real, 5, block_elements)
    ref = reference_prdc(real, fake, 5)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(ref[key], rel=1e-12), key
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1
    assert prdc(fake, real, k=5) == ours


def test_precision_recall_match_torch_fidelity():
    """torch-fidelity's prc (same input1 = generated convention) tests `<=` where the
    reference uses `<`; on continuous data, ties have probability 0 and the two agree."""
    rng = np.random.default_rng(9)
    real = rng.normal(size=(200, 8))
    fake = rng.normal(size=(220, 8)) * 1.5
    ours = prdc(fake, real, k=3)
    ref = tf_prc(torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=3,
                 verbose=False)
    assert ours["precision"] == pytest.approx(ref["precision"], rel=REL)  # theirs: float32
    assert ours["recall"] == pytest.approx(ref["recall"], rel=REL)


def test_prdc_known_answers():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(200, 8))
    same = prdc(x, x.copy(), k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    # each real ball strictly holds its own point and its k - 1 nearest neighbours (the k-th
    # lies on the boundary): k points per ball, density k / k = 1
    assert same["density"] == pytest.approx(1.0)
    far = prdc(x + 1000.0, x, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_validates_inputs():
    with pytest.raises(ValueError, match="more than 5 samples"):
        prdc(np.zeros((5, 2)), np.zeros((10, 2)), k=5)
    with pytest.raises(ValueError, match="k = 0"):
        prdc(np.zeros((10, 2)), np.zeros((10, 2)), k=0)
