"""Precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
assessing generative models"), density and coverage (Naeem et al. 2020, "Reliable fidelity
and diversity metrics for generative models").

Formulas as in the reference code clovaai/generative-evaluation-prdc (``compute_prdc``):
the k-NN radius of a sample is its distance to the k-th nearest neighbour within its own set,
self excluded (the (k+1)-th smallest distance, self at 0 included); "inside a ball" is a
strict ``<``. Input1 is generated, input2 is real (torch-fidelity's convention):

- precision: share of generated samples inside at least one real sample's ball;
- recall: share of real samples inside at least one generated sample's ball;
- density: (1/k) * mean over generated samples of the number of real balls holding them;
- coverage: share of real samples whose nearest generated sample lies inside their ball.

Euclidean distances are computed in float64 blocks of rows, so 5,000 x 5,000 x 2048 needs
a few tens of MB at a time instead of the full distance matrices.
"""

from __future__ import annotations

import numpy as np

from ganbench.metrics._checks import as_matrix, positive_int, same_dim

BLOCK_ELEMENTS = 4_000_000  # float64 entries of one distance block (~32 MB)


def prdc(generated: np.ndarray, real: np.ndarray, k: int = 5) -> dict:
    """``{"precision", "recall", "density", "coverage"}`` of generated vs real features."""
    return _prdc(generated, real, k, BLOCK_ELEMENTS)


def _prdc(generated, real, k: int, block_elements: int) -> dict:
    fake = as_matrix(generated, "generated", min_rows=1)
    real = as_matrix(real, "real", min_rows=1)
    same_dim(fake, real, "generated", "real")
    k = positive_int(k, "k")
    for name, arr in (("generated", fake), ("real", real)):
        if len(arr) <= k:
            raise ValueError(f"{name}: k={k} nearest neighbours need more than {k} samples, "
                             f"got {len(arr)}")
    real_radii = _knn_radii(real, k, block_elements)
    fake_radii = _knn_radii(fake, k, block_elements)

    real_balls_per_fake = np.zeros(len(fake), dtype=np.int64)  # precision, density
    real_recalled = np.zeros(len(real), dtype=bool)             # recall
    real_covered = np.zeros(len(real), dtype=bool)              # coverage
    fake_sq = (fake * fake).sum(axis=1)
    for start, stop in _blocks(len(real), len(fake), block_elements):
        d = _distances(real[start:stop], fake, fake_sq)  # real block x all generated
        radii = real_radii[start:stop, None]
        real_balls_per_fake += (d < radii).sum(axis=0)
        real_recalled[start:stop] = (d < fake_radii[None, :]).any(axis=1)
        real_covered[start:stop] = d.min(axis=1) < real_radii[start:stop]
    return {
        "precision": float((real_balls_per_fake > 0).mean()),
        "recall": float(real_recalled.mean()),
        "density": float(real_balls_per_fake.mean() / k),
        "coverage": float(real_covered.mean()),
    }


def _knn_radii(x: np.ndarray, k: int, block_elements: int) -> np.ndarray:
    """Distance of each row to its k-th nearest neighbour in ``x`` (self excluded)."""
    radii = np.empty(len(x))
    sq = (x * x).sum(axis=1)
    for start, stop in _blocks(len(x), len(x), block_elements):
        d = _distances(x[start:stop], x, sq)
        d[np.arange(stop - start), np.arange(start, stop)] = 0.0  # self, exactly
        radii[start:stop] = np.partition(d, k, axis=1)[:, k]
    return radii


def _distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Euclidean distances, ||a||^2 - 2 a.b + ||b||^2 clipped at 0 (as scikit-learn does)."""
    d2 = (a * a).sum(axis=1)[:, None] - 2.0 * (a @ b.T) + b_sq[None, :]
    np.maximum(d2, 0.0, out=d2)
    return np.sqrt(d2, out=d2)


def _blocks(rows: int, cols: int, block_elements: int):
    step = max(1, block_elements // max(cols, 1))
    for start in range(0, rows, step):
        yield start, min(start + step, rows)
