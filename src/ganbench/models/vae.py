"""Variational autoencoder (Kingma & Welling 2014); a CVAE (Sohn et al. 2015) when conditional.

Encoder ``q(z | x[, y])``: the DCGAN discriminator's conv stack (no norm) -> ``(mu, logvar)``.
Decoder ``p(x | z[, y])``: the DCGAN generator's transposed-conv stack without batch norm; its
``forward`` returns ``tanh(a)`` in [-1, 1] so it is a drop-in generator for sampling. The ELBO
(``ganbench.losses.elbo_loss``) reads the same pre-activation ``a`` as Bernoulli logits ``2a``:
``sigmoid(2a) = (tanh(a) + 1) / 2``, the decoder's mean in [0, 1] -- one network, one output,
two consistent readings.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.models.conditioning import LabelEmbedding
from ganbench.models.dcgan import ConvDecoder, ConvEncoder


class VAEDecoder(nn.Module):
    """The generator: ``(z, labels | None) -> (N, C, H, W)`` in [-1, 1]."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int,
                 num_classes: int = 0):
        super().__init__()
        self.z_dim, self.image_shape = z_dim, tuple(image_shape)
        self.labels = LabelEmbedding(num_classes)
        self.decoder = ConvDecoder(z_dim + self.labels.dim, image_shape, width, norm="none")

    def preactivation(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``a`` with image ``tanh(a)``; Bernoulli logits of the [0, 1] pixels are ``2a``."""
        return self.decoder(self.labels.concat(z, labels))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.preactivation(z, labels))


class VAE(nn.Module):
    """``forward(x, labels, generator) -> (a, mu, logvar)``; ``self.decoder`` is the generator."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int,
                 num_classes: int = 0):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = ConvEncoder(image_shape, width, norm="none")
        self.labels = LabelEmbedding(num_classes)
        self.posterior = nn.Linear(self.encoder.out_features + self.labels.dim, 2 * z_dim)
        self.decoder = VAEDecoder(z_dim, image_shape, width, num_classes)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        mu, logvar = self.posterior(self.labels.concat(self.encoder(x), labels)).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None):
        mu, logvar = self.encode(x, labels)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation trick
        return self.decoder.preactivation(z, labels), mu, logvar
