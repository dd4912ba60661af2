"""Train on synthetic, test on real (TSTR; Esteban et al. 2017, "Real-valued (medical) time
series generation with recurrent conditional GANs", section 3.2).

A fresh classifier with the judge's architecture and budget (``JudgeParams``: epochs, batch
size, learning rate, width; ``ganbench.classifier``) is trained on labelled synthetic images
and tested on the real test split. Its accuracy is compared with TRTR, the same classifier
trained on real train images (the judge's test accuracy): ratio = TSTR / TRTR, near 1 when
the samples teach as much as real data. Only conditional generators give true labels, so
only they have a TSTR; an unconditional variant gets ``None`` and a reason, never a number.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ganbench.classifier import accuracy, train_classifier
from ganbench.config import JudgeParams


def classifier_description(params: JudgeParams) -> str:
    """What trained the TSTR classifier, as the metrics file says it."""
    return f"judge architecture and budget ({params.epochs} epochs)"


def tstr(synthetic_images: np.ndarray, synthetic_labels: np.ndarray, test_images: np.ndarray,
         test_labels: np.ndarray, num_classes: int, params: JudgeParams, trtr_accuracy: float,
         seed: int = 0, device: torch.device | str = "cpu") -> dict:
    """TSTR accuracy of a classifier trained on uint8 synthetic images + labels.

    ``params``: the judge's budget; its seed is replaced by ``seed`` (``eval.seed``).
    Returns ``{"accuracy", "trtr_accuracy", "ratio", "n_train", "n_test", "seed",
    "classifier"}``.
    """
    synthetic_labels = np.asarray(synthetic_labels)
    if len(synthetic_labels) and synthetic_labels.min() < 0:
        raise ValueError("synthetic labels hold negative values (-1 marks an unconditional "
                         "variant's samples, which have no labels to train on)")
    if not 0 < trtr_accuracy <= 1:
        raise ValueError(f"trtr_accuracy = {trtr_accuracy!r}: must be in (0, 1]")
    budget = dataclasses.replace(params, seed=int(seed))
    model = train_classifier(synthetic_images, synthetic_labels, num_classes, budget, device,
                             desc="tstr")
    acc = accuracy(model, test_images, test_labels, device)
    return {"accuracy": acc, "trtr_accuracy": float(trtr_accuracy),
            "ratio": acc / float(trtr_accuracy), "n_train": int(len(synthetic_labels)),
            "n_test": int(len(test_labels)), "seed": int(seed),
            "classifier": classifier_description(params)}
