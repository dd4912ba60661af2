"""Class conditioning (Mirza & Osindero 2014) and the projection discriminator head.

Generators see the label as a learned embedding concatenated to ``z`` (a one-hot code followed
by a linear layer, as in the conditional GAN paper, is the same function class).
Discriminators use the projection head of Miyato & Koyama (2018):
``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>``, which conditions on the label without
concatenating it to the input.
"""

from __future__ import annotations

import torch
from torch import nn

LABEL_EMBED_DIM = 32  # size of the label embedding concatenated to z in the generators


class LabelEmbedding(nn.Module):
    """``labels (N,) int64 -> (N, dim)``; ``num_classes == 0`` means unconditional (dim 0)."""

    def __init__(self, num_classes: int, dim: int = LABEL_EMBED_DIM):
        super().__init__()
        self.num_classes = num_classes
        self.dim = dim if num_classes > 0 else 0
        self.embed = nn.Embedding(num_classes, dim) if num_classes > 0 else None

    def concat(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """``z`` with the label embedding appended (``z`` itself when unconditional)."""
        if self.embed is None:
            return z
        if labels is None:
            raise ValueError("this generator is conditional: pass int64 labels")
        return torch.cat([z, self.embed(labels).to(z.dtype)], dim=1)


class ProjectionHead(nn.Module):
    """Final layer of a discriminator: a linear logit plus the label projection (Miyato 2018).

    ``forward(features (N, F), labels) -> (N,)`` raw logits / critic values.
    """

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)
        self.embed = nn.Embedding(num_classes, in_features) if num_classes > 0 else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        out = self.linear(features).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass int64 labels")
            out = out + (self.embed(labels).to(features.dtype) * features).sum(dim=1)
        return out
