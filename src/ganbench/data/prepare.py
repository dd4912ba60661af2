"""The ``prepare`` stage's work: load a source, split, convert, and write ``data/prepared``.

Order of work: validate params (cheap) -> load the source -> choose the split and ``limit``
indices from the labels alone -> convert channels and size of the kept images only -> write
``train.npz``, ``test.npz`` and ``meta.json`` atomically. The same params give byte-identical
files: the index choices use NumPy's ``RandomState`` (its stream is frozen across NumPy
versions), resizing uses Pillow's integer fixed-point resampler, and ``write_npz`` pins zip
timestamps.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from ganbench.config import DataParams, ParamsError, as_dict, validate_section
from ganbench.data.sources import NATIVE_SIZES, Images, Split, load_source
from ganbench.errors import InputError
from ganbench.io import atomic_dir, write_json, write_npz

LUMA_601 = (299, 587, 114)  # ITU-R BT.601 luma weights, in thousandths


# --------------------------------------------------------------------------- pixels


def to_gray(images: np.ndarray) -> np.ndarray:
    """uint8 N x 3 x H x W -> N x 1 x H x W with ITU-R 601 luma, rounded half up (exact ints)."""
    if images.shape[1] == 1:
        return images
    weighted = sum(w * images[:, i].astype(np.uint32) for i, w in enumerate(LUMA_601))
    return ((weighted + 500) // 1000).astype(np.uint8)[:, None]


def to_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 N x 1 x H x W -> N x 3 x H x W by replication."""
    return images if images.shape[1] == 3 else np.repeat(images, 3, axis=1)


def pad_to(images: np.ndarray, size: int) -> np.ndarray:
    """Centre ``images`` on a ``size`` x ``size`` zero canvas (odd margins: extra row/col last)."""
    n, c, h, w = images.shape
    if h > size or w > size:
        raise InputError(f"data.resize = 'pad' never shrinks, and images are {h}x{w}, larger "
                         f"than data.image_size = {size}; use resize: resize or a larger "
                         "image_size")
    out = np.zeros((n, c, size, size), dtype=np.uint8)
    top, left = (size - h) // 2, (size - w) // 2
    out[:, :, top:top + h, left:left + w] = images
    return out


def resize_to(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear, antialiased resize to ``size`` x ``size`` (Pillow, deterministic integer maths).

    A non-square image keeps its aspect ratio: its shorter side is scaled to ``size`` and the
    longer one centre-cropped (the DCGAN convention, ``Resize`` then ``CenterCrop``).
    """
    n, c, h, w = images.shape
    side = min(h, w)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for i in range(n):
        pixels = images[i, 0] if c == 1 else images[i].transpose(1, 2, 0)
        resized = np.asarray(Image.fromarray(np.ascontiguousarray(pixels))
                             .resize((size, size), Image.Resampling.BILINEAR, box=box))
        out[i] = resized[None] if c == 1 else resized.transpose(2, 0, 1)
    return out


def fit_images(images: np.ndarray, params: DataParams) -> np.ndarray:
    """Bring same-shaped uint8 images to ``data.channels`` x ``image_size`` x ``image_size``."""
    if params.channels == 1:
        images = to_gray(images)  # before resizing: a third of the work
    size = params.image_size
    if images.shape[2:] != (size, size):
        images = pad_to(images, size) if params.resize == "pad" else resize_to(images, size)
    return to_rgb(images) if params.channels == 3 else images


def convert(images: Images, keep: np.ndarray, params: DataParams) -> np.ndarray:
    """``fit_images`` on ``images[keep]``; a list of mixed shapes is fitted shape by shape."""
    size = params.image_size
    out = np.empty((len(keep), params.channels, size, size), dtype=np.uint8)
    if isinstance(images, np.ndarray):
        for start in range(0, len(keep), 4096):  # bounded memory on big sources
            chunk = keep[start:start + 4096]
            out[start:start + len(chunk)] = fit_images(images[chunk], params)
        return out
    groups: dict[tuple, list[int]] = {}
    for position, index in enumerate(keep):
        groups.setdefault(images[index].shape, []).append(position)
    for positions in groups.values():
        batch = np.stack([images[keep[p]] for p in positions])
        out[positions] = fit_images(batch, params)
    return out


# --------------------------------------------------------------------------- splitting


def stratified_pick(labels: np.ndarray, n_pick: int, rng: np.random.RandomState) -> np.ndarray:
    """Indices of ``n_pick`` items drawn per class in proportion to its size (sorted).

    Per-class quotas use largest remainders (ties to the smaller class index), so each class
    gets within 1 of ``n_pick * n_class / n``.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = n_pick * counts / len(labels)
    quota = np.floor(exact).astype(np.int64)
    leftover = n_pick - int(quota.sum())
    quota[np.argsort(-(exact - quota), kind="stable")[:leftover]] += 1
    picked = [rng.permutation(np.flatnonzero(labels == cls))[:k]
              for cls, k in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def choose_indices(train: Split, test: Split | None, params: DataParams,
                   names: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """(train indices, test indices, split description): split if needed, shuffle, limit.

    Without a native test split the indices of both index ``train``. The test split is drawn
    and shuffled before ``limit`` touches the random stream: ``limit`` never changes it.
    """
    rng = np.random.RandomState(params.seed)  # frozen stream: same split on any NumPy
    labels = train.labels
    if test is None:
        n_test = int(round(params.test_fraction * len(labels)))
        if not 0 < n_test < len(labels):
            raise InputError(f"data.test_fraction = {params.test_fraction} of {len(labels)} "
                             f"images leaves {n_test} test images; each split needs at least "
                             "one: use more images or another test_fraction")
        test_idx = stratified_pick(labels, n_test, rng)
        train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
        split = f"stratified test_fraction={params.test_fraction}"
    else:
        train_idx, test_idx = np.arange(len(labels)), np.arange(len(test.labels))
        split = "native"
    test_idx = rng.permutation(test_idx)
    if params.limit is not None and params.limit < len(train_idx):
        train_idx = train_idx[stratified_pick(labels[train_idx], params.limit, rng)]
    missing = sorted(set(range(len(names))) - set(labels[train_idx].tolist()))
    if missing:
        raise InputError(f"data.source = {params.source!r}: no train images left for class(es) "
                         f"{', '.join(names[i] for i in missing)}; use more images per class, "
                         "a smaller test_fraction or a larger limit")
    return rng.permutation(train_idx), test_idx, split


# --------------------------------------------------------------------------- meta and writing


def sha256(array: np.ndarray) -> str:
    """Hash of an array's C-order bytes (its dtype and shape are recorded beside it)."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def check_params(params: DataParams) -> DataParams:
    """Re-validate (params may be built in code) and check what is known before loading."""
    params = validate_section(DataParams, as_dict(params), "data")
    native = NATIVE_SIZES[params.source]
    if params.resize == "pad" and native is not None and native > params.image_size:
        raise ParamsError(f"data.resize = 'pad' never shrinks, and {params.source} images are "
                         f"{native}x{native}, larger than data.image_size = "
                         f"{params.image_size}; use resize: resize or image_size >= {native}")
    return params


def prepare_dataset(params: DataParams, out_dir: Path, raw: dict | None = None) -> dict:
    """Load, split, convert and write ``out_dir/{train,test}.npz`` and ``meta.json``.

    ``raw``: the identity of the raw data (``data/source.json``, ``ganbench.data.raw``),
    recorded in meta.json. Writes atomically: on any error ``out_dir`` is left as it was.
    Returns the meta dict.
    """
    params = check_params(params)
    source = load_source(params)
    names = source.class_names
    train_idx, test_idx, split = choose_indices(source.train, source.test, params, names)
    test = source.test if source.test is not None else source.train
    arrays = {
        "train": (convert(source.train.images, train_idx, params),
                  source.train.labels[train_idx]),
        "test": (convert(test.images, test_idx, params), test.labels[test_idx]),
    }
    meta = {
        "source": params.source,
        "image_size": params.image_size,
        "channels": params.channels,
        "resize": params.resize,
        "image_shape": [params.channels, params.image_size, params.image_size],
        "num_classes": len(names),
        "class_names": names,
        "split": split,
        "seed": params.seed,
        "limit": params.limit,
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "counts": {name: np.bincount(labels, minlength=len(names)).tolist()
                   for name, (_, labels) in arrays.items()},
        "sha256": {name: {"images": sha256(images), "labels": sha256(labels)}
                   for name, (images, labels) in arrays.items()},
        "raw": raw,
    }
    with atomic_dir(out_dir) as tmp:
        for name, (images, labels) in arrays.items():
            write_npz(tmp / f"{name}.npz", images=images, labels=labels)
        write_json(tmp / "meta.json", meta)
    return meta


def summary_line(meta: dict) -> str:
    """One line for the stage's log: source, counts and shape."""
    shape = "x".join(map(str, meta["image_shape"]))
    return (f"{meta['source']}: {meta['n_train']} train + {meta['n_test']} test images of "
            f"{shape}, {meta['num_classes']} classes, split {meta['split']}")
