"""The MLP GAN of Goodfellow et al. (2014), the ``gan`` variant.

The lectures' reference shape is ``Dense(256) -> Dense(784)`` for G and ``Dense(256) -> 1``
for D. Here: one hidden layer of ``width`` units with LeakyReLU(0.2), a tanh output (images
live in [-1, 1], as in DCGAN) and raw logits out of D (the losses use BCE-with-logits, which is
the sigmoid output of the lectures made numerically stable). Any data shape ``(C, H, W)``
works, including ``(1, 1, 2)`` for 2-D point clouds (the toy mixture-of-Gaussians test).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.models.conditioning import LabelEmbedding, ProjectionHead
from ganbench.models.tricks import MinibatchDiscrimination


class MLPGenerator(nn.Module):
    """``(z (N, z_dim), labels (N,) | None) -> (N, C, H, W)`` in [-1, 1]."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int,
                 num_classes: int = 0):
        super().__init__()
        self.z_dim, self.image_shape = z_dim, tuple(image_shape)
        self.labels = LabelEmbedding(num_classes)
        self.net = nn.Sequential(
            nn.Linear(z_dim + self.labels.dim, width), nn.LeakyReLU(0.2),
            nn.Linear(width, math.prod(self.image_shape)), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.labels.concat(z, labels)).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """``(x, labels | None) -> logits (N,)``; ``return_features`` adds the hidden layer ``(N, width)``."""

    def __init__(self, image_shape: tuple[int, int, int], width: int, num_classes: int = 0,
                 minibatch_discrimination: bool = False):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), width),
                                  nn.LeakyReLU(0.2))
        self.minibatch = MinibatchDiscrimination(width) if minibatch_discrimination else None
        head_in = self.minibatch.out_features if self.minibatch else width
        self.head = ProjectionHead(head_in, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                return_features: bool = False):
        features = self.body(x)
        h = self.minibatch(features) if self.minibatch is not None else features
        out = self.head(h, labels)
        return (out, features) if return_features else out
