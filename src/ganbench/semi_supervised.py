"""The semi-supervised GAN's labelled subset and its scores (Salimans et al. 2016, section 5;
Odena 2016).

- ``labeled_subset``: the ``per_class`` labelled images of each class that the K+1-class
  discriminator trains on, drawn with the training seed (so the subset is part of the seed
  noise); every other train image is used without its label.
- ``ssl_result``: ``ssl_accuracy``, the discriminator's K-class accuracy on the real test
  split (arg-max over its K class logits), next to the *supervised baseline*: the judge's
  architecture trained on the same labelled images only, for the judge's number of gradient
  steps (its epochs over the full train split; epochs over 100 images would be a handful of
  steps), and ``ssl_gain`` = accuracy - baseline, the point of the method.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from ganbench.classifier import accuracy, train_classifier
from ganbench.config import JudgeParams, VariantParams, validate_section
from ganbench.errors import InputError
from ganbench.images import uint8_to_signed
from ganbench.io import read_json
from ganbench.results import SslResult


def labeled_subset(labels, num_classes: int, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` images of each class, drawn with ``seed``."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.RandomState(seed)
    picked = []
    for k in range(num_classes):
        members = np.flatnonzero(labels == k)
        if len(members) < per_class:
            raise InputError(f"labeled_per_class = {per_class}: class {k} has only "
                             f"{len(members)} train images; use labeled_per_class <= "
                             f"{len(members)}")
        picked.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picked))


@torch.no_grad()
def discriminator_accuracy(discriminator, images_u8: np.ndarray, labels: np.ndarray,
                           device: torch.device | str = "cpu", batch_size: int = 500) -> float:
    """Share of ``images_u8`` whose arg-max over D's K class logits is the label."""
    device = torch.device(device)
    discriminator.eval()
    correct = 0
    for start in range(0, len(images_u8), batch_size):
        x = uint8_to_signed(torch.from_numpy(images_u8[start:start + batch_size])).to(device)
        predicted = discriminator.classify(x).argmax(dim=1).cpu().numpy()
        correct += int((predicted == labels[start:start + batch_size]).sum())
    return correct / len(labels)


def baseline_params(judge: JudgeParams, n_labeled: int, n_train: int, seed: int) -> JudgeParams:
    """The judge's budget in gradient steps, spent on ``n_labeled`` images."""
    steps = judge.epochs * math.ceil(n_train / judge.batch_size)
    per_epoch = math.ceil(n_labeled / judge.batch_size)
    return dataclasses.replace(judge, epochs=max(1, steps // per_epoch), seed=int(seed))


def ssl_result(weights_dir: str | Path, prepared, judge: JudgeParams, seed: int,
               device: torch.device | str = "cpu") -> SslResult:
    """The scores of a trained semi-supervised variant (``weights_dir`` of its chain)."""
    from ganbench.models import build_models
    from ganbench.training import DISCRIMINATOR_FILE, MODEL_FILE

    weights_dir = Path(weights_dir)
    info = read_json(weights_dir / MODEL_FILE)
    cfg = validate_section(VariantParams, info["params"], f"{weights_dir / MODEL_FILE} params")
    path = weights_dir / DISCRIMINATOR_FILE
    if not path.is_file():
        raise InputError(f"{path}: missing; rerun its train stage (a semi_supervised variant "
                         "saves its discriminator)")
    num_classes = int(prepared.num_classes)
    discriminator = build_models(cfg, tuple(info["image_shape"]), num_classes).discriminator
    try:
        discriminator.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - truncated or foreign files alike
        raise InputError(f"{path}: not the discriminator model.json describes ({exc}); rerun "
                         "its train stage") from None
    discriminator.to(torch.device(device))
    test_images, test_labels = prepared.test_images, np.asarray(prepared.test_labels)
    acc = discriminator_accuracy(discriminator, test_images, test_labels, device)
    keep = labeled_subset(prepared.train_labels, num_classes, cfg.labeled_per_class,
                          int(info["seed"]))
    budget = baseline_params(judge, len(keep), len(prepared.train_labels), seed)
    model = train_classifier(prepared.train_images[keep], np.asarray(prepared.train_labels)[keep],
                             num_classes, budget, device, desc="ssl baseline")
    base = accuracy(model, test_images, test_labels, device)
    return SslResult(accuracy=acc, baseline_accuracy=base, gain=acc - base,
                     n_labeled=int(len(keep)), n_test=int(len(test_labels)),
                     baseline=f"judge architecture on the {len(keep)} labelled images, "
                              f"{budget.epochs} epochs (the judge's step budget)")
