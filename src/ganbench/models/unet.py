"""The U-Net generator of pix2pix (Isola et al. 2017, section 3.1.1; Ronneberger et al. 2015),
sized from the image.

Encoder: ``depth`` convolutions (kernel 4, stride 2) halve the side down to at least 4 pixels
(28x28: 14 and 7, depth 2; 256x256: depth 6), LeakyReLU(0.2), normalisation on all but the
first; a 3x3 convolution at the innermost resolution. Decoder: transposed convolutions
(kernel 4, stride 2) with ReLU and normalisation, each fed the previous decoder output
concatenated with the encoder output of the same resolution (the skip connections that carry
the source's low-level structure straight to the output), tanh on the image. Feature maps
double per level from ``width``, capped at ``8 * width``. pix2pix's decoder dropout (its only
noise) is left out: translations are deterministic given the source, so a translated test
split is scored once (the paper found the generator mostly ignores that noise).
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.models.translation_layers import init_translator_weights, norm_layer

MAX_MULTIPLIER = 8
MAX_DEPTH = 8


def unet_depth(height: int, width: int) -> int:
    """Stride-2 levels for an image: the most halvings that keep both sides whole and >= 4."""
    depth = 0
    while depth < MAX_DEPTH and all(side % 2 ** (depth + 1) == 0 and
                                    side // 2 ** (depth + 1) >= 4 for side in (height, width)):
        depth += 1
    if depth == 0:
        raise ValueError(f"the U-Net needs an even image side of at least 8, got "
                         f"{height}x{width}")
    return depth


class UNetGenerator(nn.Module):
    """``source (N, C, H, W) in [-1, 1] -> translated image (N, C, H, W) in [-1, 1]``."""

    def __init__(self, image_shape: tuple[int, int, int], width: int, norm: str = "batch"):
        super().__init__()
        channels, height, wide = image_shape
        self.image_shape = tuple(image_shape)
        depth = unet_depth(height, wide)
        chans = [width * min(2 ** i, MAX_MULTIPLIER) for i in range(depth)]
        bias = norm != "batch"  # a bias before batch norm is cancelled by its mean
        self.down = nn.ModuleList()
        previous = channels
        for i, out in enumerate(chans):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(previous, out, 4, 2, 1, bias=bias or i == 0))
            if i > 0:
                layers.append(norm_layer(norm, out))
            self.down.append(nn.Sequential(*layers))
            previous = out
        self.middle = nn.Sequential(nn.LeakyReLU(0.2),
                                    nn.Conv2d(chans[-1], chans[-1], 3, 1, 1, bias=bias),
                                    norm_layer(norm, chans[-1]))
        self.up = nn.ModuleList()
        for i in range(depth):
            out = chans[i - 1] if i > 0 else channels
            layers = [nn.ReLU(), nn.ConvTranspose2d(2 * chans[i], out, 4, 2, 1,
                                                    bias=bias or i == 0)]
            layers.append(norm_layer(norm, out) if i > 0 else nn.Tanh())
            self.up.append(nn.Sequential(*layers))
        init_translator_weights(self)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        skips = []
        x = source
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.middle(x)
        for block, skip in zip(reversed(self.up), reversed(skips)):
            x = block(torch.cat([x, skip], dim=1))
        return x
