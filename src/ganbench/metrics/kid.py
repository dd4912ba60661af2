"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"; reference code
mbinkowski/MMD-GAN ``compute_scores.py`` and torch-fidelity ``metric_kid``).

Unbiased estimate of MMD^2 with the polynomial kernel k(x, y) = (gamma x.y + coef0)^degree,
gamma = 1/d by default (the cubic kernel (x.y/d + 1)^3), averaged over ``subsets`` random
subsets of size m = min(subset_size, n1, n2) drawn without replacement from each set.
Returns (mean, std) over subsets, std with ddof=0. Small negative values are valid: the
estimator is unbiased, so it scatters around 0 when the two distributions are equal.

Subsets are drawn exactly as torch-fidelity draws them (``np.random.RandomState(seed)``,
for each subset ``choice(n1, m, replace=False)`` then ``choice(n2, m, replace=False)``), so
with ``rng_seed=seed`` and n1, n2 >= subset_size it returns the same numbers (torch-fidelity
refuses n < subset_size; here m is capped instead).
"""

from __future__ import annotations

import numpy as np

from ganbench.metrics._checks import as_matrix, positive_int, same_dim

# Compute the kernels of the whole sets once (then every subset's sums in one product) when
# they hold at most this many float64 entries in all (~800 MB); else work per subset.
GRAM_BUDGET = 100_000_000


def kid(features_1: np.ndarray, features_2: np.ndarray, subsets: int = 100,
        subset_size: int = 1000, degree: int = 3, gamma: float | None = None,
        coef0: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """KID between two N x d feature sets (input1 = generated, input2 = real): (mean, std)."""
    mmds = _subset_mmds(features_1, features_2, subsets, subset_size, degree, gamma, coef0,
                        seed)
    return float(np.mean(mmds)), float(np.std(mmds))


def _subset_mmds(features_1, features_2, subsets, subset_size, degree, gamma, coef0, seed,
                 gram_budget: int | None = None) -> np.ndarray:
    f1 = as_matrix(features_1, "features_1", min_rows=2)
    f2 = as_matrix(features_2, "features_2", min_rows=2)
    same_dim(f1, f2, "features_1", "features_2")
    subsets = positive_int(subsets, "subsets")
    subset_size = positive_int(subset_size, "subset_size", lo=2)
    degree = positive_int(degree, "degree")
    gamma = 1.0 / f1.shape[1] if gamma is None else float(gamma)
    coef0 = float(coef0)
    n1, n2 = len(f1), len(f2)
    m = min(subset_size, n1, n2)
    rng = np.random.RandomState(seed)
    draws = [(rng.choice(n1, m, replace=False), rng.choice(n2, m, replace=False))
             for _ in range(subsets)]

    def kernel(gram: np.ndarray) -> np.ndarray:
        """(gamma x.y + coef0)^degree, in place on the fresh Gram matrix (repeated products:
        several times faster than a float power)."""
        gram *= gamma
        gram += coef0
        out = gram.copy()
        for _ in range(degree - 1):
            out *= gram
        return out

    budget = GRAM_BUDGET if gram_budget is None else gram_budget
    if n1 * n1 + n2 * n2 + n1 * n2 > budget:  # large sets: one subset at a time
        mmds = np.empty(subsets)
        for s, (i1, i2) in enumerate(draws):
            x, y = f1[i1], f2[i2]
            mmds[s] = _mmd2_unbiased(kernel(x @ x.T), kernel(x @ y.T), kernel(y @ y.T))
        return mmds
    # The kernels of the whole sets once, then every subset's sums at once: with indicator
    # columns V (n x subsets), the sum of K over subset s is (V^T K V)_ss, one matrix product
    # for all subsets instead of gathering three m x m blocks per subset.
    k11, k22, k12 = kernel(f1 @ f1.T), kernel(f2 @ f2.T), kernel(f1 @ f2.T)
    v1, v2 = np.zeros((n1, subsets)), np.zeros((n2, subsets))
    for s, (i1, i2) in enumerate(draws):
        v1[i1, s] = 1.0
        v2[i2, s] = 1.0
    sum_xx = np.einsum("is,is->s", v1, k11 @ v1) - np.diagonal(k11) @ v1
    sum_yy = np.einsum("is,is->s", v2, k22 @ v2) - np.diagonal(k22) @ v2
    sum_xy = np.einsum("is,is->s", v1, k12 @ v2)
    return (sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * sum_xy / (m * m)


def _mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD^2: off-diagonal means of K_XX and K_YY minus twice the mean of K_XY."""
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))
