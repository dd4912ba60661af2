"""The ResNet translator of CycleGAN (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016).

``c7s1-w, d2w, d4w, R4w x blocks, u2w, uw, c7s1-C``: a 7x7 convolution, two stride-2 3x3
convolutions (the side must be a multiple of 4), ``blocks`` residual blocks of two 3x3
convolutions, two stride-2 transposed convolutions back, a 7x7 convolution to the image and
tanh. Reflection padding and the chosen normalisation (CycleGAN: instance) throughout.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.models.translation_layers import init_translator_weights, norm_layer


class ResidualBlock(nn.Module):
    """``x + conv(relu(norm(conv(x))))`` with reflection padding (Johnson et al. 2016)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels),
            nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
            norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetTranslator(nn.Module):
    """``source (N, C, H, W) in [-1, 1] -> translated image (N, C, H, W) in [-1, 1]``."""

    def __init__(self, image_shape: tuple[int, int, int], width: int, blocks: int,
                 norm: str = "instance"):
        super().__init__()
        channels, height, wide = image_shape
        if height % 4 or wide % 4:
            raise ValueError(f"the resnet translator halves the image twice; {height}x{wide} "
                             "is not a multiple of 4")
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7),
                                   norm_layer(norm, width), nn.ReLU()]
        for mult in (1, 2):
            layers += [nn.Conv2d(width * mult, width * mult * 2, 3, 2, 1),
                       norm_layer(norm, width * mult * 2), nn.ReLU()]
        layers += [ResidualBlock(width * 4, norm) for _ in range(blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(width * mult, width * mult // 2, 3, 2, 1,
                                          output_padding=1),
                       norm_layer(norm, width * mult // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_translator_weights(self)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.net(source)
