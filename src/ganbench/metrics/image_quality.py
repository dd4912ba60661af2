"""Image quality of translations, per image: against their paired targets, and their
sharpness.

Images are float arrays N x C x H x W with values in [0, ``data_range``] (uint8 images are
divided by 255 first, so ``data_range`` = 1).

- ``l1_error``: mean absolute difference per image (the L1 of pix2pix's objective, here on
  [0, 1] pixels).
- ``psnr``: 10 log10(data_range^2 / MSE) per image, in dB; +inf for identical images.
- ``ssim``: the structural similarity index of Wang et al. (2004, eq. 13) with their
  constants K1 = 0.01, K2 = 0.03 and an 11x11 Gaussian window of sigma 1.5, population
  (co)variances, averaged over the valid (uncropped) window positions and the channels of
  each image. Images smaller than 11 pixels use the largest odd window that fits, its sigma
  scaled alike (1.5 * window / 11). Equal to scikit-image's ``structural_similarity`` with
  ``gaussian_weights=True, use_sample_covariance=False`` and the same sigma (tested).
- ``total_variation``: the mean absolute difference between horizontally and vertically
  adjacent pixels of each image, the anisotropic total variation (Rudin, Osher & Fatemi 1992)
  per pixel pair: a blurred image has less of it than the data, a noisy one more. pix2pix's
  case against an L1-only generator is its blur (Isola et al. 2017, sec. 4.2).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"images must be two N x C x H x W arrays of one shape, got {x.shape} "
                         f"and {y.shape}")
    return x, y


def l1_error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean |x - y| of each image (N,)."""
    x, y = _pair(x, y)
    return np.abs(x - y).mean(axis=(1, 2, 3))


def total_variation(x: np.ndarray) -> np.ndarray:
    """Mean |difference| of horizontally and vertically adjacent pixels of each image (N,),
    over all such pairs of every channel."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[2] < 2 or x.shape[3] < 2:
        raise ValueError(f"images must be N x C x H x W with H, W >= 2, got {x.shape}")
    across = np.abs(np.diff(x, axis=3)).sum(axis=(1, 2, 3))
    down = np.abs(np.diff(x, axis=2)).sum(axis=(1, 2, 3))
    c, h, w = x.shape[1:]
    return (across + down) / (c * (h * (w - 1) + (h - 1) * w))


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio of each image (N,), dB; +inf where the images are equal."""
    x, y = _pair(x, y)
    mse = ((x - y) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range ** 2 / mse)


def ssim_window(height: int, width: int) -> tuple[int, float]:
    """``(window side, sigma)`` for images of this size (see the module docstring)."""
    side = min(SSIM_WINDOW, height, width)
    side -= 1 - side % 2  # odd
    if side < 3:
        raise ValueError(f"SSIM needs images of at least 3x3, got {height}x{width}")
    return side, SSIM_SIGMA * side / SSIM_WINDOW


def gaussian_weights(side: int, sigma: float) -> np.ndarray:
    """The normalised 1-d Gaussian window (as ``scipy.ndimage.gaussian_filter`` builds it)."""
    radius = (side - 1) // 2
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def _filter(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of the last two axes."""
    out = sliding_window_view(images, len(weights), axis=-1) @ weights
    return sliding_window_view(out, len(weights), axis=-2) @ weights


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Mean SSIM of each image (N,) over its valid window positions and channels."""
    x, y = _pair(x, y)
    side, sigma = ssim_window(x.shape[2], x.shape[3])
    weights = gaussian_weights(side, sigma)
    mu_x, mu_y = _filter(x, weights), _filter(y, weights)
    var_x = _filter(x * x, weights) - mu_x ** 2
    var_y = _filter(y * y, weights) - mu_y ** 2
    cov = _filter(x * y, weights) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
             / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
    return index.mean(axis=(1, 2, 3))
