"""Inception Score (Salimans et al. 2016, "Improved techniques for training GANs").

IS = exp(E_x KL(p(y|x) || p(y))), averaged over ``splits`` disjoint chunks of the samples;
returns (mean, std) of the per-split scores, std with ddof=0, all in float64.

Conventions follow torch-fidelity's ``metric_isc.isc_features_to_metric`` exactly: rows are
shuffled with ``np.random.RandomState(seed).permutation(N)`` before splitting, and split i is
rows ``[i*N//splits, (i+1)*N//splits)``. torch-fidelity seeds that permutation with its
``rng_seed`` (default 2020); here ``seed`` (``eval.seed``, default 0) plays the same role, so
passing ``rng_seed=seed`` to torch-fidelity reproduces these numbers. With the Inception
backbone the inputs are the 1008 logits without bias ("logits_unbiased"); with the judge,
its class probabilities (the maximum is the number of classes).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ganbench.metrics._checks import as_matrix, positive_int


def inception_score_from_logits(logits: np.ndarray, splits: int = 10,
                                seed: int = 0) -> tuple[float, float]:
    """IS from N x C class logits (softmax taken here, in float64). Returns (mean, std)."""
    logits = as_matrix(logits, "logits", min_rows=1)
    log_p = logits - logsumexp(logits, axis=1, keepdims=True)
    return _score(log_p, splits, seed)


def inception_score_from_probs(probs: np.ndarray, splits: int = 10,
                               seed: int = 0) -> tuple[float, float]:
    """IS from N x C class probabilities (rows >= 0 summing to 1). Returns (mean, std)."""
    probs = as_matrix(probs, "probs", min_rows=1)
    if (probs < 0).any():
        raise ValueError("probs: holds negative values; pass probabilities (or use "
                         "inception_score_from_logits)")
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-4):
        worst = float(np.abs(sums - 1.0).max())
        raise ValueError(f"probs: rows must sum to 1 (worst row is off by {worst:.3g}); "
                         "pass probabilities, or logits to inception_score_from_logits")
    with np.errstate(divide="ignore"):
        log_p = np.log(probs / sums[:, None])
    return _score(log_p, splits, seed)


def _score(log_p: np.ndarray, splits: int, seed: int) -> tuple[float, float]:
    n = log_p.shape[0]
    splits = positive_int(splits, "splits")
    if n < splits:
        raise ValueError(f"Inception Score with {splits} splits needs at least {splits} "
                         f"samples, got {n}")
    log_p = log_p[np.random.RandomState(seed).permutation(n)]
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits:(i + 1) * n // splits]
        p = np.exp(chunk)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_q = np.log(p.mean(axis=0))
            # p * (log p - log q), with 0 * log 0 = 0 (one-hot probabilities)
            kl = np.where(p > 0, p * (chunk - log_q), 0.0).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
