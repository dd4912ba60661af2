"""Input validation shared by the metric functions: clear ValueErrors, float64 out."""

from __future__ import annotations

import numpy as np


def as_matrix(x, name: str, *, min_rows: int = 1) -> np.ndarray:
    """A finite 2-D float64 array with at least ``min_rows`` rows, else a ValueError naming it."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a numeric N x d array ({exc})") from None
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array N x d, got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name}: expected at least one feature column, got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} samples, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise ValueError(f"{name}: {bad} of {arr.shape[0]} rows hold NaN or infinite values")
    return arr


def same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} has {a.shape[1]} features per sample but {name_b} has "
                         f"{b.shape[1]}: they must come from the same backbone")


def positive_int(value, name: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} = {value!r}: must be an integer >= {lo}")
    return int(value)
