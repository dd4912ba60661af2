"""Mode-collapse diagnostics from a classifier's predictions (numpy, float64).

A mode is a class of the data. The judge classifier labels every sample with its arg-max
class, which gives the samples' class histogram ``p``; the real test split's labels give
``q``.

- ``modes_covered``: the number of classes that receive at least ``min_share`` of a balanced
  share, i.e. at least ``min_share / K`` of the samples (K classes). With the default 0.25 a
  class of MNIST counts when at least 2.5% of the samples fall into it. The counting follows
  the "modes captured" of Srivastava et al. 2017 (VEEGAN) and Metz et al. 2017 (unrolled
  GANs), with classes as modes.
- ``mode_kl``: ``KL(p || q) = sum_k p_k log(p_k / q_k)`` in nats (VEEGAN, section 5). 0 when
  the samples' classes follow the real data's; ``log K`` when every sample is one class of a
  balanced data set. A class absent from ``q`` is given ``EPS`` so that the value stays
  finite.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MIN_SHARE = 0.25
EPS = 1e-12


def class_histogram(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """The share of each class among integer ``predictions`` (shape (K,), sums to 1)."""
    predictions = np.asarray(predictions)
    if num_classes < 1:
        raise ValueError(f"num_classes = {num_classes}: must be >= 1")
    if predictions.ndim != 1 or len(predictions) == 0:
        raise ValueError("predictions must be a non-empty 1-d array of class indices")
    if predictions.min() < 0 or predictions.max() >= num_classes:
        raise ValueError(f"predictions must lie in [0, {num_classes - 1}]")
    counts = np.bincount(predictions.astype(np.int64), minlength=num_classes)
    return counts.astype(np.float64) / counts.sum()


def modes_covered(histogram: np.ndarray, min_share: float = DEFAULT_MIN_SHARE) -> int:
    """How many classes hold at least ``min_share / K`` of the samples."""
    histogram = np.asarray(histogram, dtype=np.float64)
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share = {min_share}: must be in (0, 1]")
    return int((histogram >= min_share / len(histogram) - 1e-15).sum())


def mode_kl(histogram: np.ndarray, reference: np.ndarray) -> float:
    """``KL(histogram || reference)`` in nats; both are class shares over the same classes."""
    p = np.asarray(histogram, dtype=np.float64)
    q = np.asarray(reference, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"histograms must have the same 1-d shape, got {p.shape} and "
                         f"{q.shape}")
    q = np.maximum(q, EPS)
    q = q / q.sum()
    mask = p > 0
    return float(max(0.0, (p[mask] * np.log(p[mask] / q[mask])).sum()))
