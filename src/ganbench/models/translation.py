"""Image-to-image translators: the networks of a variant whose ``task`` is a translation.

- paired tasks (pix2pix, Isola et al. 2017): one generator G(source) and, unless the loss is
  ``l1``, a conditional PatchGAN D(source, image) on the two stacked on channels;
- unpaired tasks (CycleGAN, Zhu et al. 2017): ``CyclePair`` (G_AB and G_BA) and
  ``CycleCritics`` (D_A and D_B, unconditional PatchGANs).

``generator(source) -> translated`` is the interface sampling uses: ``CyclePair`` translates
A -> B in its forward and keeps B -> A for the cycle.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.models.patchgan import PatchDiscriminator
from ganbench.models.resnet_translator import ResnetTranslator
from ganbench.models.unet import UNetGenerator


class CyclePair(nn.Module):
    """G_AB (``ab``) and G_BA (``ba``); ``forward`` is A -> B."""

    def __init__(self, ab: nn.Module, ba: nn.Module):
        super().__init__()
        self.ab, self.ba = ab, ba

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.ab(source)


class CycleCritics(nn.Module):
    """D_A (real A against G_BA's fakes) and D_B (real B against G_AB's fakes)."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        self.a, self.b = a, b


DEFAULT_NORM = "instance"


def translator(cfg, image_shape: tuple[int, int, int]) -> nn.Module:
    """One image-to-image generator of ``cfg.arch``. Null normalisation is instance norm:
    CycleGAN's choice, and what pix2pix's batch norm amounts to, trained at batch size 1 and
    applied with the test image's own statistics (Isola et al. 2017, section 3.3). Batch norm
    with running statistics at test time (``normalization_g: batch``) is available too."""
    norm = cfg.normalization_g or DEFAULT_NORM
    if cfg.arch == "unet":
        return UNetGenerator(image_shape, cfg.width, norm)
    if cfg.arch == "resnet":
        return ResnetTranslator(image_shape, cfg.width, cfg.blocks, norm)
    raise ValueError(f"{cfg.arch!r} is not a translator arch")


def build_translators(cfg, image_shape: tuple[int, int, int], paired: bool):
    """``GanModels`` of a translation variant (weights from the global torch RNG: seed it
    first)."""
    from ganbench.models import GanModels

    channels, side = image_shape[0], image_shape[1]
    norm_d = cfg.normalization_d or DEFAULT_NORM
    if paired:
        generator = translator(cfg, image_shape)
        if cfg.objective == "l1":
            return GanModels(generator, None)
        return GanModels(generator, PatchDiscriminator(2 * channels, side, cfg.width, norm_d))
    pair = CyclePair(translator(cfg, image_shape), translator(cfg, image_shape))
    critics = CycleCritics(PatchDiscriminator(channels, side, cfg.width, norm_d),
                           PatchDiscriminator(channels, side, cfg.width, norm_d))
    return GanModels(pair, critics)
