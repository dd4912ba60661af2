"""Statistics over training seeds: intervals, pairwise comparisons, ranks with ties.

Conventions (docs/ARCHITECTURE.md, "Statistics"):

- The spread between seeds is measured with the sample standard deviation (ddof=1).
- 95% interval of a mean: Student's t interval for n < ``BOOTSTRAP_MIN_N`` (exact for normal
  data, and the sound choice at 2-9 seeds); the BCa bootstrap (``scipy.stats.bootstrap``,
  seeded, so the file is reproducible) from ``BOOTSTRAP_MIN_N`` seeds up (Efron 1987). One
  seed has no interval: there is no estimate of seed noise.
- Difference of two means: Welch's t interval (unequal variances; Welch 1947), the
  comparison of Bouthillier et al. 2021 for independent training runs. A difference whose
  interval holds 0 is "indistinguishable": no claim is made on it.
- Probability of improvement P(X_a better than X_b): the share of seed pairs (i, j) in which
  run i of a beats run j of b, ties counted one half (Agarwal et al. 2021, rliable; the
  Mann-Whitney U statistic divided by n_a n_b).
- Rank with ties: 1 + the number of variants significantly better. Variants no comparison can
  tell apart share a rank; the pairwise intervals are not corrected for multiple comparisons
  (the report says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
BOOTSTRAP_MIN_N = 10
BOOTSTRAP_RESAMPLES = 9999
T_METHOD = "student-t"
BCA_METHOD = "bca-bootstrap"
WELCH_METHOD = "welch-t"
BETTER, WORSE, SAME = "better", "worse", "indistinguishable"


@dataclass(frozen=True)
class Interval:
    """A mean (or a difference of means) with its ``level`` interval; ``low``/``high`` are
    None when there is no estimate of the noise (one seed)."""

    estimate: float
    low: float | None
    high: float | None
    method: str

    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def _finite(values) -> np.ndarray:
    array = np.asarray([float(v) for v in values], dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"values must be finite numbers, got {list(values)}")
    return array


def std(values) -> float | None:
    """Sample standard deviation (ddof=1); None for fewer than two values."""
    array = _finite(values)
    return float(array.std(ddof=1)) if len(array) >= 2 else None


def t_quantile(df: float, level: float = LEVEL) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


NO_INTERVAL = "single seed: no interval"


def interval_method(n: int) -> str:
    """The interval ``mean_interval`` uses for ``n`` values."""
    return NO_INTERVAL if n < 2 else T_METHOD if n < BOOTSTRAP_MIN_N else BCA_METHOD


def mean_interval(values, level: float = LEVEL) -> Interval:
    """The mean of ``values`` with its interval (method in the module docstring)."""
    array = _finite(values)
    if len(array) == 0:
        raise ValueError("no values")
    mean = float(array.mean())
    n = len(array)
    method = interval_method(n)
    if n == 1:
        return Interval(mean, None, None, method)
    s = float(array.std(ddof=1))
    if s == 0.0:
        return Interval(mean, mean, mean, method)
    if n < BOOTSTRAP_MIN_N:
        half = t_quantile(n - 1, level) * s / math.sqrt(n)
        return Interval(mean, mean - half, mean + half, T_METHOD)
    from scipy import stats

    result = stats.bootstrap((array,), np.mean, confidence_level=level, method="BCa",
                             n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(0))
    low, high = result.confidence_interval
    return Interval(mean, float(low), float(high), BCA_METHOD)


def difference_interval(a, b, level: float = LEVEL) -> Interval:
    """mean(a) - mean(b) with Welch's t interval (None bounds when either has one value)."""
    a, b = _finite(a), _finite(b)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Interval(diff, None, None, NO_INTERVAL)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Interval(diff, diff, diff, WELCH_METHOD)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(df, level) * se
    return Interval(diff, diff - half, diff + half, WELCH_METHOD)


def probability_of_improvement(a, b, direction: int) -> float:
    """P(a run of a is better than a run of b), over all seed pairs, ties one half."""
    a, b = _finite(a), _finite(b)
    if direction not in (-1, 1):
        raise ValueError(f"direction must be +1 or -1, got {direction}")
    d = (a[:, None] - b[None, :]) * direction
    return float(((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size)


def verdict(diff: Interval, direction: int) -> str:
    """``better`` / ``worse`` for a (the first of the pair) against b, or ``indistinguishable``."""
    if not diff.excludes_zero():
        return SAME
    return BETTER if diff.estimate * direction > 0 else WORSE


def ranks(beats: dict[str, set[str]]) -> dict[str, int]:
    """Rank = 1 + how many variants are significantly better (``beats[u]``: those u beats)."""
    return {v: 1 + sum(v in beaten for u, beaten in beats.items() if u != v) for v in beats}
