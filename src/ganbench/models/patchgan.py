"""The PatchGAN discriminator (Isola et al. 2017, section 3.2.2; CycleGAN's as well).

It classifies every overlapping patch of its input as real or fake and returns a map of
logits ``(N, 1, h, w)``; the losses average over the map. Layers: ``n`` convolutions of
kernel 4 and stride 2 (the first without normalisation), one of stride 1, then a stride-1
convolution to one channel, LeakyReLU(0.2) between them, feature maps doubling from
``width`` (capped at ``8 * width``). With ``n = 3`` this is the paper's 70x70 PatchGAN.

The receptive field (the side of the input patch one logit sees) is computed from the
layers (``receptive_field``), and ``patch_layers`` sizes ``n`` for the image: the most
stride-2 layers (at most the paper's 3) whose patch is still smaller than the image, so D
judges local texture and structure, not the whole image (28x28: n = 1, 16x16 patches;
64x64: n = 2, 34x34; 256x256: n = 3, 70x70).
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.models.normalization import spectral_normalize
from ganbench.models.translation_layers import init_translator_weights, norm_layer

MAX_MULTIPLIER = 8
PAPER_LAYERS = 3  # the 70x70 PatchGAN


def receptive_field(module: nn.Module) -> int:
    """The receptive field of one output of a plain stack of convolutions, in input pixels:
    ``1 + sum((k_i - 1) * prod(strides before i))``."""
    field, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            field += (layer.kernel_size[0] - 1) * jump
            jump *= layer.stride[0]
    return field


def patch_field(n_layers: int) -> int:
    """The receptive field of a PatchGAN with ``n_layers`` stride-2 layers."""
    return 1 + 3 * (2 ** (n_layers + 1) - 1 + 2 ** n_layers)


def patch_layers(image_side: int) -> int:
    """Stride-2 layers for images of side ``image_side`` (at least 1, at most 3)."""
    n = 1
    while n < PAPER_LAYERS and patch_field(n + 1) < image_side:
        n += 1
    return n


class PatchDiscriminator(nn.Module):
    """``image (N, in_channels, H, W) -> patch logits (N, 1, h, w)``. For pix2pix the input
    is the source and the (real or translated) target stacked on channels."""

    def __init__(self, in_channels: int, image_side: int, width: int, norm: str = "batch"):
        super().__init__()
        n = patch_layers(image_side)
        spectral = norm == "spectral"
        norm = "none" if spectral else norm
        bias = norm != "batch"
        chans = [width * min(2 ** i, MAX_MULTIPLIER) for i in range(n + 1)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, chans[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, n + 1):
            stride = 2 if i < n else 1
            layers += [nn.Conv2d(chans[i - 1], chans[i], 4, stride, 1, bias=bias),
                       norm_layer(norm, chans[i]), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(chans[n], 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        init_translator_weights(self)
        if spectral:
            spectral_normalize(self)
        self.n_layers = n
        self.receptive_field = receptive_field(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
