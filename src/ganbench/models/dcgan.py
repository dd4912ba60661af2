"""DCGAN (Radford et al. 2015) sized from the image: any side from 8 pixels up.

Generator: ``[z, embed(y)] -> Linear -> (C0, s0, s0)`` with ``s0`` in 4..7, then ``k``
transposed convolutions (kernel 4, stride 2) double the side up to ``s0 * 2**k >= side``; a
centre crop handles sides that are not of that form (e.g. 9 or 29). Feature maps halve at each
doubling and end at ``width`` before the image layer (the 64x64 plan is the paper's
``8w, 4w, 2w, w``; 28x28 is ``7x7 @ 2w -> 14x14 @ w -> 28x28``), capped at ``8 * width``.
BatchNorm + ReLU in G (or virtual batch norm, or none: ``ganbench.models.normalization``),
tanh output.

Discriminator mirrors it with stride-2 convolutions (kernel 4) and LeakyReLU(0.2); no norm on
the first layer (as in the paper). Norm elsewhere: BatchNorm, except for a WGAN-GP critic
(``norm="layer"``): the gradient penalty is per sample, and batch norm couples samples, so
Gulrajani et al. (2017) recommend layer normalisation (here ``GroupNorm(1, C)``: normalises
each sample over C, H, W with a per-channel affine), or ``spectral`` (no norm layers, every
weight spectrally normalised; Miyato et al. 2018). Penultimate features (flattened last conv
block) are exposed for feature matching. With ``semi_supervised_classes = K`` the last layer
gives K class logits and the real/fake logit is their log-sum-exp (the K+1-class
discriminator of Salimans et al. 2016, section 5, with the fake logit fixed at 0).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganbench.models.conditioning import LabelEmbedding, ProjectionHead
from ganbench.models.normalization import (REFERENCE_BATCH, VirtualBatchNorm2d,
                                           spectral_normalize)
from ganbench.models.tricks import MinibatchDiscrimination

MAX_MULTIPLIER = 8


def plan(height: int, width: int) -> tuple[int, tuple[int, int]]:
    """``(k doublings, (s0_h, s0_w))`` for an image of ``height x width`` (both >= 8)."""
    if min(height, width) < 8:
        raise ValueError(f"convolutional models need images of at least 8x8, got {height}x{width}")
    side = max(height, width)
    k = 1
    while math.ceil(side / 2**k) > 7:
        k += 1
    return k, (math.ceil(height / 2**k), math.ceil(width / 2**k))


def channels_at(level: int, k: int, width: int) -> int:
    """Feature maps at resolution level ``level`` (0 = s0 ... k-1 = half the image side)."""
    return width * min(2 ** (k - 1 - level), MAX_MULTIPLIER)


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) conv/linear weights, N(1, 0.02) norm scales, zero biases (Radford et al.)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, VirtualBatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class ConvDecoder(nn.Module):
    """Latent (+ label) -> pre-activation image ``(N, C, H, W)``; shared by DCGAN G and the VAE."""

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], width: int,
                 norm: str = "batch"):
        """``norm``: ``batch``, ``virtual_batch`` (inputs start with the reference rows) or
        ``none``."""
        super().__init__()
        channels, height, wide = image_shape
        self.image_shape = tuple(image_shape)
        k, (h0, w0) = plan(height, wide)
        c0 = channels_at(0, k, width)
        self.start = (c0, h0, w0)
        layers_of = {"batch": nn.BatchNorm2d, "virtual_batch": VirtualBatchNorm2d,
                     "none": lambda c: nn.Identity()}
        if norm not in layers_of:
            raise ValueError(f"norm must be one of {', '.join(layers_of)}, got {norm!r}")
        norm_layer = layers_of[norm]
        batchnorm = norm != "none"
        self.project = nn.Linear(in_dim, c0 * h0 * w0, bias=not batchnorm)
        self.project_norm = nn.Sequential(norm_layer(c0), nn.ReLU())
        layers: list[nn.Module] = []
        for level in range(k - 1):
            c_in, c_out = channels_at(level, k, width), channels_at(level + 1, k, width)
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=not batchnorm),
                       norm_layer(c_out), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(channels_at(k - 1, k, width), channels, 4, 2, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.project_norm(self.project(h).view(-1, *self.start))
        x = self.body(x)
        _, height, wide = self.image_shape
        top, left = (x.shape[2] - height) // 2, (x.shape[3] - wide) // 2
        return x[:, :, top:top + height, left:left + wide]


class ConvEncoder(nn.Module):
    """Image -> flattened features ``(N, out_features)`` by stride-2 convolutions."""

    def __init__(self, image_shape: tuple[int, int, int], width: int, norm: str = "batch"):
        super().__init__()
        channels, height, wide = image_shape
        k, _ = plan(height, wide)
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(k):
            c_out = channels_at(k - 1 - i, k, width)
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=(i == 0 or norm == "none")))
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
            height, wide = height // 2, wide // 2  # conv(k=4, s=2, p=1) floors odd sides
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.out_features = c_in * height * wide

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DCGANGenerator(nn.Module):
    """``(z (N, z_dim), labels | None) -> (N, C, H, W)`` in [-1, 1]."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int,
                 num_classes: int = 0, norm: str = "batch"):
        super().__init__()
        self.z_dim, self.image_shape = z_dim, tuple(image_shape)
        self.labels = LabelEmbedding(num_classes)
        self.decoder = ConvDecoder(z_dim + self.labels.dim, image_shape, width, norm)
        init_dcgan_weights(self)
        self.reference = norm == "virtual_batch"
        if self.reference:  # the fixed reference batch, drawn once from the seeded global RNG
            self.register_buffer("reference_z", torch.randn(REFERENCE_BATCH, z_dim))
            self.register_buffer("reference_labels",
                                 torch.arange(REFERENCE_BATCH) % max(num_classes, 1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not self.reference:
            return torch.tanh(self.decoder(self.labels.concat(z, labels)))
        r = self.reference_z.shape[0]
        z = torch.cat([self.reference_z.to(z.dtype), z])
        if labels is not None:
            labels = torch.cat([self.reference_labels, labels])
        return torch.tanh(self.decoder(self.labels.concat(z, labels))[r:])


class DCGANDiscriminator(nn.Module):
    """``(x, labels | None) -> logits (N,)``; ``return_features`` adds the penultimate features.

    ``norm``: ``batch`` (DCGAN, WGAN), ``layer`` (WGAN-GP critic), ``none`` or ``spectral``.
    ``semi_supervised_classes``: K > 0 makes it the K+1-class discriminator (unconditional);
    ``classify(x)`` then gives the K class logits.
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int, num_classes: int = 0,
                 norm: str = "batch", minibatch_discrimination: bool = False,
                 semi_supervised_classes: int = 0):
        super().__init__()
        if semi_supervised_classes and num_classes:
            raise ValueError("the K+1-class discriminator is unconditional")
        self.encoder = ConvEncoder(image_shape, width, "none" if norm == "spectral" else norm)
        features = self.encoder.out_features
        self.minibatch = MinibatchDiscrimination(features) if minibatch_discrimination else None
        head_in = self.minibatch.out_features if self.minibatch else features
        self.classes = semi_supervised_classes
        if self.classes:
            self.head = nn.Linear(head_in, self.classes)
            linear = self.head
        else:
            self.head = ProjectionHead(head_in, num_classes)
            linear = self.head.linear
        init_dcgan_weights(self.encoder)
        nn.init.normal_(linear.weight, 0.0, 0.02)
        nn.init.zeros_(linear.bias)
        if norm == "spectral":
            spectral_normalize(self)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The K class logits of the K+1-class discriminator, ``(N, K)``."""
        if not self.classes:
            raise ValueError("classify() needs semi_supervised_classes > 0")
        features = self.encoder(x)
        return self.head(self.minibatch(features) if self.minibatch is not None else features)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                return_features: bool = False):
        features = self.encoder(x)
        h = self.minibatch(features) if self.minibatch is not None else features
        if self.classes:  # D(x) = Z / (Z + 1), Z = sum_k exp(l_k): its logit is log Z
            out = torch.logsumexp(self.head(h).float(), dim=1).to(h.dtype)
        else:
            out = self.head(h, labels)
        return (out, features) if return_features else out
