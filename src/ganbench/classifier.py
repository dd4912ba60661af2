"""The judge: a small CNN classifier of the real data, and its training (reused by TSTR).

Its test accuracy is the TRTR baseline (train on real, test on real; Esteban et al. 2017),
and its penultimate features and class softmax are the domain backbone of the judge
metrics (FID on a domain classifier's features, as in the MNIST experiments of Heusel et
al. 2017 and the "domain-specific" FID variants; IS with the class softmax, Salimans et al.
2016, whose maximum is the number of classes).

Training is a plain loop (nanoGPT style): the whole uint8 data set sits on the device, batches
are drawn by index from a seeded permutation, Adam, cross-entropy. With the same seed and
inputs it is bit-for-bit deterministic on the CPU.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganbench.backbones.base import file_sha256
from ganbench.config import JudgeParams
from ganbench.errors import InputError, describe
from ganbench.images import uint8_to_signed
from ganbench.io import atomic_dir, atomic_file, write_json
from ganbench.seeding import seed_everything

log = logging.getLogger(__name__)

FEATURE_DIM = 128  # penultimate features: the judge backbone's feature space
ARCHITECTURE = "judge-cnn"


class JudgeNet(nn.Module):
    """Two conv blocks (conv-BN-ReLU-maxpool, then dropout), a 128-unit layer, the logits.

    Any square ``image_size`` works: the second block's maps are average-pooled to at most
    7 x 7 (28 x 28 inputs reach exactly 7 x 7, so nothing is pooled there).
    """

    def __init__(self, channels: int, image_size: int, num_classes: int, width: int = 32):
        super().__init__()
        self.config = dict(channels=int(channels), image_size=int(image_size),
                           num_classes=int(num_classes), width=int(width))
        pooled = max(1, min(7, image_size // 4))
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2) if image_size >= 4 else nn.Identity(),
            nn.AdaptiveAvgPool2d(pooled),
            nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(2 * width * pooled * pooled, FEATURE_DIM),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(FEATURE_DIM, num_classes))

    @property
    def feature_dim(self) -> int:
        return FEATURE_DIM

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (128, after ReLU) of images in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of images in [-1, 1]."""
        return self.head(self.body(x))


def _check_inputs(images_u8, labels,
                  num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images_u8)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise InputError(f"classifier inputs must be uint8 N x C x H x W images, got "
                         f"{images.dtype} with shape {images.shape}")
    labels = np.asarray(labels).astype(np.int64, copy=False).reshape(-1)
    if len(labels) != len(images):
        raise InputError(f"{len(images)} images but {len(labels)} labels")
    if len(labels) and num_classes is not None \
            and (labels.min() < 0 or labels.max() >= num_classes):
        raise InputError(f"labels must lie in [0, {num_classes - 1}], got "
                         f"[{labels.min()}, {labels.max()}]")
    return images, labels


def train_classifier(images_u8, labels, num_classes: int, params: JudgeParams,
                     device: torch.device | str = "cpu", desc: str = "judge") -> JudgeNet:
    """Train a fresh ``JudgeNet`` on uint8 images and int labels with ``params``'s budget.

    Seeded with ``params.seed`` (weights, batch order, dropout); returns the model in eval mode.
    """
    images, labels = _check_inputs(images_u8, labels, num_classes)
    if len(images) == 0:
        raise InputError(f"{desc}: no training images")
    device = torch.device(device)
    generator = seed_everything(params.seed)
    _, channels, height, width = images.shape
    if height != width:
        raise InputError(f"{desc}: square images expected, got {height} x {width}")
    model = JudgeNet(channels, height, num_classes, params.width).to(
        device, memory_format=torch.channels_last)  # faster convolutions, CPU and GPU
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr, foreach=True)
    x_all = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    y_all = torch.from_numpy(np.ascontiguousarray(labels)).to(device)
    n = len(x_all)
    steps_per_epoch = (n + params.batch_size - 1) // params.batch_size
    model.train()
    start = time.perf_counter()
    bar = tqdm(total=params.epochs * steps_per_epoch, desc=desc, unit="step", leave=False,
               mininterval=1.0, disable=None)
    for epoch in range(params.epochs):
        order = torch.randperm(n, generator=generator).to(device)
        total = 0.0
        for step in range(steps_per_epoch):
            index = order[step * params.batch_size:(step + 1) * params.batch_size]
            if len(index) < 2:  # BatchNorm needs two images; a lone last image is skipped
                continue
            logits = model(uint8_to_signed(x_all[index]).contiguous(
                memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, y_all[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            bar.update(1)
        log.debug("%s epoch %d: loss %.4f", desc, epoch + 1, total / steps_per_epoch)
    bar.close()
    log.info("%s: %d epochs on %d images in %.1fs (%s)", desc, params.epochs, n,
             time.perf_counter() - start, device)
    return model.eval()


@torch.no_grad()
def predict(model: JudgeNet, images_u8, device: torch.device | str = "cpu",
            batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features and logits (float64 numpy) of uint8 images, in batches."""
    images = np.asarray(images_u8)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise InputError(f"images must be uint8 N x C x H x W, got {images.dtype} {images.shape}")
    device = torch.device(device)
    model.eval()
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        x = uint8_to_signed(torch.from_numpy(images[start:start + batch_size]).to(device))
        f = model.features(x)
        features.append(f.double().cpu().numpy())
        logits.append(model.head(f).double().cpu().numpy())
    dim = model.feature_dim
    if not features:
        return np.zeros((0, dim)), np.zeros((0, model.config["num_classes"]))
    return np.concatenate(features), np.concatenate(logits)


def accuracy(model: JudgeNet, images_u8, labels, device: torch.device | str = "cpu",
             batch_size: int = 500) -> float:
    """Share of images whose arg-max class is the label."""
    images, labels = _check_inputs(images_u8, labels)
    if len(labels) == 0:
        raise InputError("accuracy of an empty test set")
    _, logits = predict(model, images, device, batch_size)
    return float((logits.argmax(1) == labels).mean())


@dataclass(frozen=True)
class ClassifierInfo:
    """What ``save_classifier`` stores beside the weights: the constructor args."""

    channels: int
    image_size: int
    num_classes: int
    width: int


def save_classifier(model: JudgeNet, path: str | Path, info: dict[str, Any] | None = None) -> None:
    """Atomically save weights + ``info`` (constructor args added) for ``load_classifier``."""
    payload = {"architecture": ARCHITECTURE, "config": dict(model.config),
               "info": dict(info or {}),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    with atomic_file(path, "wb") as handle:
        torch.save(payload, handle)


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> tuple[JudgeNet, dict]:
    """Load a saved classifier (``weights_only=True``) in eval mode; returns (model, info)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing; the judge stage writes it (dvc repro judge)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        config = ClassifierInfo(**payload["config"])
        model = JudgeNet(**asdict(config))
        model.load_state_dict(payload["state_dict"])
    except Exception as exc:  # a corrupt or foreign file: say which one
        raise InputError(f"{path}: not a ganbench judge classifier ({describe(exc)}); rerun "
                         "`dvc repro --force judge` to write it again") from None
    info = {**payload.get("info", {}), **asdict(config)}
    return model.to(torch.device(device)).eval(), info


# --------------------------------------------------------------------------- the judge stage

CLASSIFIER_FILE = "classifier.pt"
JUDGE_FILE = "judge.json"


def weights_version(path: str | Path) -> str:
    """``judge-cnn sha256:<first 8 hex of the weights file>``: names the exact weights."""
    return f"{ARCHITECTURE} sha256:{file_sha256(path)[:8]}"


def run_judge(params: JudgeParams, prepared, judge_dir: str | Path, report_path: str | Path,
              device: torch.device | str = "cpu") -> dict:
    """Train the judge on the prepared train split, test it on the test split, and write
    ``<judge_dir>/{classifier.pt,judge.json}`` (atomically, as one folder) and
    ``report_path`` (``reports/judge.json``). Returns the summary written to both JSONs:
    ``{"trtr_accuracy", "n_train", "n_test", "epochs", "seed", "version", "num_classes"}``.
    No wall-clock time goes into them (DVC outputs: the same bytes on every run); the log
    line of ``train_classifier`` says how long it took.
    """
    model = train_classifier(prepared.train_images, prepared.train_labels,
                             prepared.num_classes, params, device, desc="judge")
    trtr = accuracy(model, prepared.test_images, prepared.test_labels, device)
    summary = {"trtr_accuracy": trtr, "n_train": int(len(prepared.train_labels)),
               "n_test": int(len(prepared.test_labels)), "epochs": params.epochs,
               "seed": params.seed, "num_classes": prepared.num_classes}
    with atomic_dir(judge_dir) as tmp:
        save_classifier(model, tmp / CLASSIFIER_FILE, info={"params": asdict(params)})
        summary["version"] = weights_version(tmp / CLASSIFIER_FILE)
        details = {**summary, "params": asdict(params), "architecture": ARCHITECTURE,
                   "feature_dim": FEATURE_DIM, "image_shape": list(prepared.image_shape),
                   "device": str(torch.device(device))}
        write_json(tmp / JUDGE_FILE, details)
    write_json(report_path, summary)
    return summary
