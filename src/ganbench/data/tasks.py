"""Image-to-image translation tasks, built deterministically from the embedded data.

Every task translates a *source* domain into a *target* domain; the target is always the
prepared data (``data/prepared``), so the judge, the reference statistics and the real test
split serve the translations exactly as they serve the generators.

Paired tasks (pix2pix, Isola et al. 2017): the source of an image is a fixed function of that
image, so each target has its source row by row, in both splits:

- ``edges2image``: a binary edge map (Sobel gradient magnitude of the luma at least a quarter
  of a unit step's), the "edges2x" setting of pix2pix;
- ``lowres2image``: the image averaged over 4x4 blocks and blown up again (nearest), 4x
  super-resolution;
- ``masked2image``: a square patch of half the image side, at a position drawn per image with
  ``data.seed``, filled with mid grey (inpainting).

Unpaired task (CycleGAN, Zhu et al. 2017): ``digits2mnist`` translates scikit-learn's 8x8
digits, brought to the working size and channels as ``prepare`` brings any source, into the
prepared MNIST digits (``data.source`` mnist5k or mnist), the small-scale analogue of
MNIST<->USPS. Domain A is split train/test (stratified, seeded by ``data.seed``, share
``data.test_fraction``) by the ``tasks`` stage, which writes it to ``data/tasks/digits2mnist``;
domain B is the prepared splits. Labels exist on both sides and serve evaluation only: no
trainer ever reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganbench.config import DataParams, TASKS, as_dict, validate_section
from ganbench.errors import InputError
from ganbench.io import atomic_dir, read_json, write_json, write_npz
from ganbench.paths import TASKS_DIR
UNPAIRED_SOURCES = ("mnist5k", "mnist")  # domain B of digits2mnist must be MNIST digits
DOMAIN_A_SOURCE = "digits"
EDGE_THRESHOLD = 0.25   # share of a unit step's Sobel magnitude (4) that counts as an edge
LOWRES_FACTOR = 4
MASK_FILL = 128         # mid grey: 0 in the models' [-1, 1] range
_RERUN = "rerun `dvc repro tasks`"


@dataclass(frozen=True)
class TaskData:
    """One task's images, uint8 N x C x H x W. Paired: ``train_source[i]`` is the source of
    ``train_target[i]`` (same for test). Unpaired: the two domains have their own counts and
    order. ``*_labels`` are class labels for evaluation only (class preservation)."""

    task: str
    paired: bool
    train_source: np.ndarray
    train_target: np.ndarray
    test_source: np.ndarray
    test_source_labels: np.ndarray
    test_target: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.train_target.shape[1:])


# --------------------------------------------------------------------------- paired sources


def _luma(images: np.ndarray) -> np.ndarray:
    """float [0, 1] N x H x W: the grey image, or the BT.601 luma of an RGB one."""
    unit = images.astype(np.float64) / 255.0
    if unit.shape[1] == 1:
        return unit[:, 0]
    return 0.299 * unit[:, 0] + 0.587 * unit[:, 1] + 0.114 * unit[:, 2]


def edge_maps(images: np.ndarray) -> np.ndarray:
    """Binary Sobel edges (255 on an edge, 0 elsewhere), zero padding at the border, in the
    images' channel count."""
    y = np.pad(_luma(images), ((0, 0), (1, 1), (1, 1)))
    gx = (y[:, :-2, 2:] + 2 * y[:, 1:-1, 2:] + y[:, 2:, 2:]
          - y[:, :-2, :-2] - 2 * y[:, 1:-1, :-2] - y[:, 2:, :-2])
    gy = (y[:, 2:, :-2] + 2 * y[:, 2:, 1:-1] + y[:, 2:, 2:]
          - y[:, :-2, :-2] - 2 * y[:, :-2, 1:-1] - y[:, :-2, 2:])
    edges = (np.hypot(gx, gy) >= 4.0 * EDGE_THRESHOLD).astype(np.uint8) * 255
    return np.repeat(edges[:, None], images.shape[1], axis=1)


def low_resolution(images: np.ndarray, factor: int = LOWRES_FACTOR) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks (rounded half up), repeated back to full size."""
    n, c, h, w = images.shape
    if h % factor or w % factor:
        raise InputError(f"lowres2image needs an image side divisible by {factor}; "
                         f"data.image_size is {h}")
    blocks = images.reshape(n, c, h // factor, factor, w // factor, factor).astype(np.uint32)
    small = (blocks.sum(axis=(3, 5)) * 2 + factor * factor) // (2 * factor * factor)
    return small.astype(np.uint8).repeat(factor, axis=2).repeat(factor, axis=3)


def masked(images: np.ndarray, seed: int, offset: int = 0) -> np.ndarray:
    """Each image with a grey square of half its side at a seeded position; ``offset`` is the
    index of the first image in its split's stream (train and test draw different streams)."""
    n, _, h, w = images.shape
    side = max(1, h // 2)
    rng = np.random.RandomState([seed, offset])
    tops = rng.randint(0, h - side + 1, size=n)
    lefts = rng.randint(0, w - side + 1, size=n)
    out = images.copy()
    for i, (top, left) in enumerate(zip(tops, lefts)):
        out[i, :, top:top + side, left:left + side] = MASK_FILL
    return out


def paired_sources(task: str, targets: np.ndarray, seed: int, split: str) -> np.ndarray:
    """The sources of ``targets`` for a paired task (``split``: ``train`` or ``test``)."""
    if task == "edges2image":
        return edge_maps(targets)
    if task == "lowres2image":
        return low_resolution(targets)
    if task == "masked2image":
        return masked(targets, seed, offset={"train": 0, "test": 1}[split])
    raise ValueError(f"{task!r} is not a paired task")


# --------------------------------------------------------------------------- unpaired domain A


def domain_a_params(data: DataParams) -> DataParams:
    """The data params of domain A: scikit-learn's digits at the project's size, channels,
    split share and seed (no ``limit``: the domain is small)."""
    fields = {**as_dict(data), "source": DOMAIN_A_SOURCE, "limit": None, "resize": "resize"}
    return validate_section(DataParams, fields, "data (domain A of digits2mnist)")


def build_domain_a(data: DataParams) -> dict[str, np.ndarray]:
    """Domain A split like ``prepare`` splits a source without a test split."""
    from ganbench.data.prepare import choose_indices, convert
    from ganbench.data.sources import load_source

    params = domain_a_params(data)
    source = load_source(params)
    train_idx, test_idx, _ = choose_indices(source.train, None, params, source.class_names)
    images, labels = source.train.images, source.train.labels
    return {"train_images": convert(images, train_idx, params),
            "train_labels": labels[train_idx],
            "test_images": convert(images, test_idx, params),
            "test_labels": labels[test_idx]}


def write_tasks(data: DataParams, out_dir: str | Path = TASKS_DIR) -> dict:
    """The ``tasks`` stage: ``out_dir/digits2mnist/{train,test}.npz`` (domain A) and
    ``out_dir/meta.json`` (every task, its kind and what it is built from). Returns meta."""
    from ganbench.data.prepare import sha256

    domain = build_domain_a(data)
    meta = {"tasks": {name: {"paired": task.paired, "source": task.source,
                             "target": "data/prepared"} for name, task in TASKS.items()},
            "digits2mnist": {"source": DOMAIN_A_SOURCE, "seed": data.seed,
                             "test_fraction": data.test_fraction,
                             "image_shape": list(domain["train_images"].shape[1:]),
                             "n_train": int(len(domain["train_labels"])),
                             "n_test": int(len(domain["test_labels"])),
                             "sha256": {k: sha256(v) for k, v in domain.items()}}}
    with atomic_dir(out_dir) as tmp:
        folder = tmp / "digits2mnist"
        folder.mkdir()
        for split in ("train", "test"):
            write_npz(folder / f"{split}.npz", images=domain[f"{split}_images"],
                      labels=domain[f"{split}_labels"])
        write_json(tmp / "meta.json", meta)
    return meta


def _read_domain_a(tasks_dir: Path, split: str, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    path = tasks_dir / "digits2mnist" / f"{split}.npz"
    from ganbench.data.prepare import sha256

    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: missing or not a task data file ({exc}); {_RERUN}") from None
    expected = meta.get("digits2mnist", {}).get("sha256", {})
    if sha256(images) != expected.get(f"{split}_images") \
            or sha256(labels) != expected.get(f"{split}_labels"):
        raise InputError(f"{path}: does not match {tasks_dir / 'meta.json'}; {_RERUN}")
    return images, labels


def load_task(task: str, prepared, tasks_dir: str | Path = TASKS_DIR) -> TaskData:
    """``task``'s train and test images; the target domain is ``prepared`` (``Prepared``)."""
    if task not in TASKS or task == "generate":
        raise ValueError(f"unknown translation task {task!r}")
    seed = int(prepared.meta.get("seed", 0))
    if TASKS[task].paired:
        return TaskData(task, True,
                        paired_sources(task, prepared.train_images, seed, "train"),
                        prepared.train_images,
                        paired_sources(task, prepared.test_images, seed, "test"),
                        prepared.test_labels, prepared.test_images)
    tasks_dir = Path(tasks_dir)
    if prepared.meta.get("source") not in UNPAIRED_SOURCES:
        raise InputError(f"task {task}: the target domain must be MNIST digits (data.source "
                         f"{' or '.join(UNPAIRED_SOURCES)}), not {prepared.meta.get('source')!r}")
    meta_path = tasks_dir / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{meta_path}: missing; {_RERUN}")
    meta = read_json(meta_path)
    train, _ = _read_domain_a(tasks_dir, "train", meta)
    test, test_labels = _read_domain_a(tasks_dir, "test", meta)
    if train.shape[1:] != prepared.train_images.shape[1:]:
        raise InputError(f"{tasks_dir}: domain A images are {train.shape[1:]}, the prepared "
                         f"data {prepared.train_images.shape[1:]}; {_RERUN}")
    return TaskData(task, False, train, prepared.train_images, test,
                    test_labels.astype(np.int64), prepared.test_images)


def summary_line(meta: dict) -> str:
    domain = meta["digits2mnist"]
    return (f"tasks: {', '.join(meta['tasks'])}; digits2mnist domain A: {domain['n_train']} "
            f"train + {domain['n_test']} test scikit-learn digits at "
            f"{'x'.join(map(str, domain['image_shape']))}")
