"""Pixel conventions shared by every stage.

On disk and between stages images are uint8 N x C x H x W. Models see floats in [-1, 1]
(tanh outputs, as in DCGAN, Radford et al. 2015). Backbones see uint8-rounded images:
``(x*255 + 0.5).clamp(0, 255)`` of x in [0, 1], exactly what a saved PNG would hold
(the torch-fidelity / pytorch-fid convention).
"""

from __future__ import annotations

import numpy as np
import torch


def uint8_to_signed(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    images = torch.as_tensor(images)
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def signed_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8, rounded as a saved PNG would be."""
    unit = (images.detach().float() + 1.0) / 2.0
    return unit_to_uint8(unit)


def unit_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [0, 1] -> uint8 via ``(x*255 + 0.5).clamp(0, 255)``."""
    return (images.detach().float() * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)


def uint8_to_unit(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return torch.as_tensor(images).to(torch.float32).div_(255.0)
