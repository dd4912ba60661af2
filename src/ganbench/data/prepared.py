"""Read the ``prepare`` stage's outputs (``data/prepared``) back, checked against meta.json."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganbench.data.prepare import sha256
from ganbench.errors import InputError
from ganbench.io import read_json
from ganbench.paths import PREPARED_DIR

_RERUN = "run `dvc repro prepare` to (re)create it"


@dataclass(frozen=True)
class Prepared:
    """The prepared splits: uint8 N x C x H x W images, int64 labels, and meta.json."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    meta: dict

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.train_images.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])


def load_meta(dir: str | Path = PREPARED_DIR) -> dict:
    """meta.json of the prepared data."""
    path = Path(dir) / "meta.json"
    if not path.is_file():
        raise InputError(f"{path} not found; {_RERUN}")
    try:
        meta = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); {_RERUN}") from None
    missing = [k for k in ("image_shape", "num_classes", "n_train", "n_test", "sha256")
               if k not in meta]
    if missing:
        raise InputError(f"{path}: lacks {', '.join(missing)}; {_RERUN}")
    return meta


def _load_split(path: Path, meta: dict, split: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise InputError(f"{path} not found; {_RERUN}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a prepared split with 'images' and 'labels' ({exc}); "
                         f"{_RERUN}") from None
    count = meta[f"n_{split}"]
    expected = (count, *meta["image_shape"])
    if images.dtype != np.uint8 or images.shape != expected:
        raise InputError(f"{path}: images are {images.dtype} {images.shape}, meta.json says "
                         f"uint8 {expected}; {_RERUN}")
    if labels.dtype != np.int64 or labels.shape != (count,):
        raise InputError(f"{path}: labels are {labels.dtype} {labels.shape}, expected int64 "
                         f"({count},); {_RERUN}")
    if count and (labels.min() < 0 or labels.max() >= meta["num_classes"]):
        raise InputError(f"{path}: labels outside 0..{meta['num_classes'] - 1}; {_RERUN}")
    if verify:
        for name, array in (("images", images), ("labels", labels)):
            if sha256(array) != meta["sha256"][split][name]:
                raise InputError(f"{path}: {name} do not match the sha256 in meta.json (the "
                                 f"files were changed after prepare); {_RERUN}")
    return images, labels


def load_prepared(dir: str | Path = PREPARED_DIR, verify: bool = True) -> Prepared:
    """Load ``train.npz``, ``test.npz`` and ``meta.json``; check dtypes, shapes and labels.

    ``verify`` also checks the sha256 of every array against meta.json (about 0.3 s per
    100 MB).
    """
    dir = Path(dir)
    meta = load_meta(dir)
    train = _load_split(dir / "train.npz", meta, "train", verify)
    test = _load_split(dir / "test.npz", meta, "test", verify)
    return Prepared(*train, *test, meta=meta)
