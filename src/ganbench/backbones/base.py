"""What every feature backbone provides: the ``Backbone`` protocol and ``BackboneOutput``.

A backbone turns uint8 N x C x H x W images (``ganbench.images`` conventions: what a saved
PNG would hold) into N x d features for FID/KID/PRDC and, when it can, class probabilities
or logits for the Inception Score.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class BackboneOutput:
    """Features of N images; ``probs``/``logits`` are None when the backbone has none.

    features: N x d, float32 or float64. probs: N x C class probabilities (IS). logits:
    N x C class logits (IS via ``inception_score_from_logits``; for Inception the 1008 logits
    without bias, torch-fidelity's "logits_unbiased").
    """

    features: np.ndarray
    probs: np.ndarray | None = None
    logits: np.ndarray | None = None


@runtime_checkable
class Backbone(Protocol):
    """A feature extractor with a name, a precise version and a device of its own.

    ``version`` says exactly what produced the numbers (weights file and sha256 prefix).
    ``is_available`` tells whether ``extract`` returns probs or logits for the Inception
    Score; when it is False, ``is_reason`` says why (it goes into the metrics file).
    """

    name: str
    version: str
    feature_dim: int
    is_available: bool
    is_reason: str | None

    def extract(self, images: np.ndarray, batch_size: int) -> BackboneOutput:
        """uint8 N x C x H x W images -> features (batched, under torch.inference_mode())."""
        ...


_HASHES: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file, cached per (path, size, mtime) for the process."""
    path = Path(path).resolve()
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def check_images(images: np.ndarray, channels: tuple[int, ...] = (1, 3)) -> np.ndarray:
    """Validate uint8 N x C x H x W images (C in ``channels``); ValueError otherwise."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"backbones take uint8 images (what a saved PNG holds), got "
                         f"{images.dtype}; convert with ganbench.images.unit_to_uint8")
    if images.ndim != 4 or images.shape[1] not in channels:
        raise ValueError(f"expected images N x C x H x W with C in {channels}, got shape "
                         f"{images.shape}")
    if images.shape[0] == 0:
        raise ValueError("no images to extract features from")
    return images
