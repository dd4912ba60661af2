"""L1, PSNR, SSIM and total variation on known images, and SSIM against scikit-image's
implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from ganbench.metrics.image_quality import l1_error, psnr, ssim, ssim_window, total_variation
from ganbench.translation import psnr_cap, score_translation


def test_identical_images_give_infinite_psnr_ssim_one_and_zero_l1():
    x = np.random.RandomState(0).rand(3, 1, 16, 16)
    assert np.all(np.isinf(psnr(x, x)))
    np.testing.assert_allclose(ssim(x, x), 1.0)
    np.testing.assert_array_equal(l1_error(x, x), 0.0)


def test_psnr_of_a_known_error_is_the_closed_form():
    """An error of d on every pixel: MSE = d^2, PSNR = 20 log10(1 / d)."""
    x = np.full((2, 1, 8, 8), 0.5)
    for d in (0.1, 0.01):
        np.testing.assert_allclose(psnr(x, x + d), 20 * math.log10(1 / d))
        np.testing.assert_allclose(l1_error(x, x + d), d)


@pytest.mark.parametrize("shape", [(4, 1, 28, 28), (3, 3, 16, 16), (2, 1, 8, 8)])
@pytest.mark.parametrize("noise", [0.02, 0.2])
def test_ssim_equals_scikit_image(shape, noise):
    rng = np.random.RandomState(1)
    x = rng.rand(*shape)
    y = np.clip(x + noise * rng.randn(*shape), 0, 1)
    side, sigma = ssim_window(shape[2], shape[3])
    expected = [structural_similarity(x[i], y[i], data_range=1.0, gaussian_weights=True,
                                      sigma=sigma, use_sample_covariance=False, channel_axis=0)
                for i in range(shape[0])]
    np.testing.assert_allclose(ssim(x, y), expected, rtol=0, atol=1e-12)
    assert side == (11 if shape[2] >= 11 else 7)


def test_ssim_falls_with_noise_and_is_symmetric():
    rng = np.random.RandomState(2)
    x = rng.rand(1, 1, 28, 28)
    scores = [ssim(x, np.clip(x + s * rng.randn(*x.shape), 0, 1))[0] for s in (0.01, 0.1, 0.3)]
    assert scores[0] > scores[1] > scores[2]
    y = np.clip(x + 0.1 * rng.randn(*x.shape), 0, 1)
    np.testing.assert_allclose(ssim(x, y), ssim(y, x))


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        psnr(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 8, 7)))
    with pytest.raises(ValueError, match="at least 3x3"):
        ssim(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)))


def test_total_variation_of_known_images_and_the_sharpness_of_a_blur():
    """A constant image has none; a vertical edge of height 1 in a 4x4 image crosses 4 of the
    24 adjacent pairs; a checkerboard has the most (every pair differs by 1). A 3x3 box blur
    of real digits lowers the sharpness below 1; the images themselves score exactly 1."""
    edge = np.zeros((1, 1, 4, 4))
    edge[..., 2:] = 1.0
    board = np.indices((4, 4)).sum(axis=0)[None, None] % 2
    values = total_variation(np.concatenate([np.zeros((1, 1, 4, 4)), edge, board]))
    assert values.tolist() == pytest.approx([0.0, 4 / 24, 1.0])
    with pytest.raises(ValueError, match="H, W >= 2"):
        total_variation(np.zeros((1, 1, 1, 4)))
    digits = (np.random.RandomState(0).rand(6, 1, 12, 12) > 0.7).astype(np.uint8) * 255
    padded = np.pad(digits.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    blurred = sum(padded[..., i:i + 12, j:j + 12] for i in range(3) for j in range(3)) / 9
    labels = np.arange(6)
    sharp = score_translation(digits, labels, labels, digits, digits, None, "edges2image", "j")
    blur = score_translation(np.round(blurred).astype(np.uint8), labels, labels, digits,
                             digits, None, "edges2image", "j")
    assert sharp.sharpness == pytest.approx(1.0) and blur.sharpness < 0.6


def test_a_pixel_exact_translation_scores_the_uint8_resolution_limit():
    """score_translation keeps the mean PSNR finite: an exact image gets the PSNR of one grey
    level in one pixel, the smallest error a uint8 image can show."""
    images = np.random.RandomState(3).randint(0, 256, (4, 1, 8, 8)).astype(np.uint8)
    labels = np.arange(4)
    scored = score_translation(images, labels, labels, images, images, None, "edges2image",
                               "judge")
    cap = psnr_cap((1, 8, 8))
    assert cap == pytest.approx(10 * math.log10(255 ** 2 * 64))
    assert (scored.psnr, scored.ssim, scored.l1, scored.class_preservation) == \
        (pytest.approx(cap), pytest.approx(1.0), 0.0, 1.0)
    off_by_one = images.copy()
    off_by_one[:, 0, 0, 0] ^= 1  # one grey level in one pixel
    assert score_translation(off_by_one, labels, labels, images, images, None, "edges2image",
                             "judge").psnr == pytest.approx(cap)
