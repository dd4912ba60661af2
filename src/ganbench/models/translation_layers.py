"""Layers shared by the image-to-image translators (``unet``, ``resnet``, PatchGAN)."""

from __future__ import annotations

from torch import nn

TRANSLATOR_NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``batch`` (pix2pix), ``instance`` (CycleGAN: per image and channel, no affine, no running
    statistics, as Zhu et al.'s code) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}; allowed: {', '.join(TRANSLATOR_NORMS)}")


def init_translator_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolution weights, N(1, 0.02) batch-norm scales, zero biases: the
    ``init_type = normal`` of the pix2pix and CycleGAN code."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
