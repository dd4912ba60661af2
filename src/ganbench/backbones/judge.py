"""Backbone "judge": the domain classifier of the judge stage (``ganbench.classifier``).

Features are its 128-d penultimate layer (after ReLU), the domain-specific feature space of
FID/KID/PRDC (as the MNIST classifier features of Heusel et al. 2017); ``logits`` are its
class logits, whose softmax is p(y|x) for the Inception Score (Salimans et al. 2016): with
10 classes the score's maximum is 10.

Images are the uint8 N x C x H x W of the prepared data (same C, H, W as the judge was
trained on); they reach the network as ``uint8 / 127.5 - 1`` (``ganbench.images``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganbench.backbones.base import BackboneOutput, check_images, file_sha256
from ganbench.classifier import ARCHITECTURE, CLASSIFIER_FILE, load_classifier, predict
from ganbench.errors import InputError


def judge_version(classifier_file: str | Path) -> str:
    """``judge-cnn sha256:<first 8 hex of classifier.pt>``: names the exact weights (the same
    string as ``ganbench.classifier.weights_version`` and reports/judge.json's version)."""
    return f"{ARCHITECTURE} sha256:{file_sha256(classifier_file)[:8]}"


class JudgeBackbone:
    """Penultimate features and class logits of the trained judge (``models/judge``)."""

    name = "judge"
    is_available = True
    is_reason = None
    convention = "uint8 -> x/127.5 - 1 at the prepared size (the judge's training input)"

    def __init__(self, judge_dir: str | Path, device: torch.device | str = "cpu"):
        path = Path(judge_dir) / CLASSIFIER_FILE
        if not path.is_file():
            raise InputError(f"{path}: missing; the judge stage writes it (dvc repro judge)")
        self.device = torch.device(device)
        self.model, self.info = load_classifier(path, self.device)
        self.version = judge_version(path)
        self.feature_dim = self.model.feature_dim
        self.num_classes = int(self.info["num_classes"])
        self.image_shape = (int(self.info["channels"]), int(self.info["image_size"]),
                            int(self.info["image_size"]))

    def extract(self, images: np.ndarray, batch_size: int = 200) -> BackboneOutput:
        """uint8 N x C x H x W -> features (N x 128), logits and softmax probs (N x classes)."""
        images = check_images(images)
        if tuple(images.shape[1:]) != self.image_shape:
            raise InputError(f"the judge was trained on {self.image_shape} images (C, H, W), "
                             f"got {tuple(images.shape[1:])}; rerun the judge stage on the "
                             "same prepared data as the variants")
        if batch_size < 1:
            raise ValueError(f"batch_size = {batch_size}: must be >= 1")
        with torch.inference_mode():
            features, logits = predict(self.model, images, self.device, batch_size)
        probs = torch.from_numpy(logits).softmax(dim=1).numpy()
        return BackboneOutput(features=features, probs=probs, logits=logits)
