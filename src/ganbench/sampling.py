"""Fixed-seed samples of a trained generator, sample grids and latent interpolation strips.

Noise (and the interpolation end points) come from a CPU ``torch.Generator`` seeded with the
``sample.seed`` param and are drawn all at once, so the latent codes do not depend on the
device or on the batch size. Conditional variants get class-balanced labels ``0..K-1``
repeating (``i % K`` for sample ``i``); unconditional variants get no labels (None).
PNG files are written by Pillow with no metadata (no timestamps): identical images give
identical bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ganbench.config import VariantParams, validate_section
from ganbench.errors import InputError, describe
from ganbench.images import signed_to_uint8
from ganbench.io import atomic_file, read_json
from ganbench.paths import chain_of
from ganbench.models import build_models

MODEL_FILE = "model.json"
GENERATOR_FILE = "generator.pt"
GENERATOR_EMA_FILE = "generator_ema.pt"
GRID_PADDING = 2  # pixels between tiles (black)


def load_generator(weights_dir: str | Path, device: torch.device | str = "cpu",
                   use_ema: bool = True,
                   truncation_psi: float = 1.0) -> tuple[nn.Module, dict]:
    """The trained generator in eval mode on ``device``, and ``model.json`` as a dict.

    With ``use_ema`` and EMA weights present (``model.json`` ``"ema": true``), loads
    ``generator_ema.pt``; else ``generator.pt``. ``truncation_psi`` applies to generators
    with a truncation trick (StyleGAN). The returned info is model.json plus ``"ema_used"``
    (bool), ``"weights_file"`` and ``"truncation_psi"`` (None when the generator has none).
    """
    weights_dir = Path(weights_dir)
    path = weights_dir / MODEL_FILE
    if not path.is_file():
        raise InputError(f"{path}: missing; the train stage writes it (rerun dvc repro)")
    rerun = f"rerun `dvc repro --force train@{chain_of(weights_dir)}` to write it again"
    try:
        info = read_json(path)
        cfg = validate_section(VariantParams, info["params"], f"{path} params")
        shape, classes = tuple(info["image_shape"]), int(info["num_classes"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a ganbench model.json ({describe(exc)}); "
                         f"{rerun}") from None
    ema = bool(use_ema and info.get("ema") and (weights_dir / GENERATOR_EMA_FILE).is_file())
    name = GENERATOR_EMA_FILE if ema else GENERATOR_FILE
    if not (weights_dir / name).is_file():
        raise InputError(f"{weights_dir / name}: missing; {rerun}")
    generator = build_models(cfg, shape, classes).generator
    try:  # weights_only: a file holding pickled code is refused, never executed
        state = torch.load(weights_dir / name, map_location="cpu", weights_only=True)
        generator.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - truncated, foreign or unsafe files alike
        raise InputError(f"{weights_dir / name}: not the generator weights model.json "
                         f"describes ({describe(exc)}); {rerun}") from None
    generator.to(torch.device(device)).eval().requires_grad_(False)
    psi = None
    if hasattr(generator, "truncation_psi"):
        generator.truncation_psi = psi = float(truncation_psi)
    return generator, {**info, "ema_used": ema, "weights_file": name, "truncation_psi": psi}


def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """``0, 1, ..., K-1, 0, 1, ...``: class-balanced (counts differ by at most one)."""
    return (np.arange(n) % num_classes).astype(np.int64)


@torch.no_grad()
def _decode(generator: nn.Module, z: torch.Tensor, labels: np.ndarray | None,
            device: torch.device, batch_size: int) -> np.ndarray:
    device = torch.device(device)
    out = []
    for start in range(0, z.shape[0], batch_size):
        zb = z[start:start + batch_size].to(device)
        yb = None if labels is None else torch.as_tensor(labels[start:start + batch_size]).to(device)
        out.append(signed_to_uint8(generator(zb, yb).float()).cpu())
    if not out:
        shape = getattr(generator, "image_shape", (1, 1, 1))
        return np.zeros((0, *shape), np.uint8)
    return torch.cat(out).numpy()


def generate(generator: nn.Module, info: dict, n: int, seed: int,
             device: torch.device | str = "cpu",
             batch_size: int = 500) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` images (uint8 N x C x H x W) and their labels (int64, None when unconditional).

    ``z ~ N(0, I)`` from ``torch.Generator().manual_seed(seed)`` on the CPU, all ``n`` drawn
    at once.
    """
    rng = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, int(info["z_dim"]), generator=rng)
    labels = balanced_labels(n, int(info["num_classes"])) if info["conditional"] else None
    return _decode(generator, z, labels, device, batch_size), labels


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (White 2016) between rows ``a`` and ``b`` at fractions ``t``."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_n * b_n).sum().clamp(-1.0, 1.0))
    t = t[:, None]
    if float(omega.sin().abs()) < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / omega.sin()


def interpolation(generator: nn.Module, info: dict, steps: int, seed: int,
                  device: torch.device | str = "cpu",
                  path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A latent interpolation: slerp between two seeded codes in ``steps`` images per row.

    Unconditional: one row. Conditional: up to 4 rows with the same two codes and one fixed
    class per row (classes spread over 0..K-1), showing that the label, not z, sets the class.
    Returns ``(images (rows*steps, C, H, W) uint8, labels | None)``; with ``path``, also
    saves them as a PNG with ``steps`` columns.
    """
    rng = torch.Generator().manual_seed(int(seed))
    ends = torch.randn(2, int(info["z_dim"]), generator=rng)
    line = slerp(ends[0], ends[1], torch.linspace(0.0, 1.0, steps))
    labels = None
    if info["conditional"]:
        k = int(info["num_classes"])
        classes = np.unique(np.linspace(0, k - 1, min(4, k)).round().astype(np.int64))
        labels = np.repeat(classes, steps)
        line = line.repeat(len(classes), 1)
    images = _decode(generator, line, labels, device, 500)
    if path is not None:
        save_grid(images, path, columns=steps)
    return images, labels


def class_sweep(generator: nn.Module, info: dict, rows: int, seed: int,
                device: torch.device | str = "cpu",
                path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A conditional generator's class sweep: ``rows`` fixed codes (seeded), each decoded
    with every class 0..K-1 in turn, so a row shows one z across all classes (what the label
    controls, and whether any class has collapsed). Returns ``(images (rows*K, C, H, W),
    labels)``; with ``path``, saves a PNG with one column per class."""
    if not info["conditional"]:
        raise ValueError("a class sweep needs a conditional generator")
    k = int(info["num_classes"])
    rng = torch.Generator().manual_seed(int(seed))
    z = torch.randn(rows, int(info["z_dim"]), generator=rng).repeat_interleave(k, dim=0)
    labels = np.tile(np.arange(k, dtype=np.int64), rows)
    images = _decode(generator, z, labels, device, 500)
    if path is not None:
        save_grid(images, path, columns=k)
    return images, labels


@torch.no_grad()
def style_mixing(generator: nn.Module, info: dict, size: int, seed: int,
                 path: str | Path | None = None) -> np.ndarray:
    """StyleGAN's style-mixing figure (Karras et al. 2019, fig. 3) as one uint8 tile array of
    ``(size + 1) ** 2`` images: the top row holds ``size`` column sources, the left column
    ``size`` row sources (seeded codes, the first tile blank), and tile ``(r, c)`` the coarse
    styles of row source ``r`` with the fine styles of column source ``c``. Conditional
    generators use class ``r % K`` for row sources and ``c % K`` for column sources."""
    from ganbench.models.stylegan import style_mixing_images

    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(int(seed))
    z = torch.randn(2 * size, int(info["z_dim"]), generator=rng).to(device)
    labels = None
    if info["conditional"]:
        labels = (torch.arange(size) % int(info["num_classes"])).to(device)
    mixed = style_mixing_images(generator, z[:size], z[size:], None, labels, labels)
    tiles = [torch.full_like(mixed.rows[0], -1.0)] + list(mixed.cols)  # a black corner
    for r in range(size):
        tiles += [mixed.rows[r]] + list(mixed.grid[r])
    images = signed_to_uint8(torch.stack(tiles)).cpu().numpy()
    if path is not None:
        save_grid(images, path, columns=size + 1)
    return images


def grid_image(images: np.ndarray, columns: int = 10, labels: np.ndarray | None = None,
               max_rows: int | None = None) -> np.ndarray:
    """Tile uint8 N x C x H x W images into one H' x W' (x 3) uint8 array.

    With ``labels`` (conditional samples), one row per class holding that class's first
    ``columns`` images. Otherwise the first ``columns * max_rows`` images, row by row
    (``max_rows`` defaults to ``columns``: a square grid).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 N x C x H x W, got {images.dtype} {images.shape}")
    n, c, h, w = images.shape
    if labels is not None:
        labels = np.asarray(labels)
        rows = [images[labels == k][:columns] for k in np.unique(labels)]
    else:
        max_rows = columns if max_rows is None else max_rows
        keep = images[:columns * max_rows]
        rows = [keep[i:i + columns] for i in range(0, len(keep), columns)]
    rows = rows or [images[:0]]
    p = GRID_PADDING
    canvas = np.zeros((c, p + len(rows) * (h + p), p + columns * (w + p)), np.uint8)
    for r, row in enumerate(rows):
        for col, tile in enumerate(row):
            top, left = p + r * (h + p), p + col * (w + p)
            canvas[:, top:top + h, left:left + w] = tile
    return canvas[0] if c == 1 else np.moveaxis(canvas[:3], 0, -1)


def png_bytes(array: np.ndarray) -> bytes:
    """PNG bytes of an H x W (gray) or H x W x 3 (RGB) uint8 array, without metadata."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def save_grid(images: np.ndarray, path: str | Path, columns: int = 10,
              labels: np.ndarray | None = None) -> None:
    """Save a sample grid as a PNG (one row per class when ``labels`` is given), atomically."""
    data = png_bytes(grid_image(images, columns, labels))
    with atomic_file(path, "wb") as handle:
        handle.write(data)
