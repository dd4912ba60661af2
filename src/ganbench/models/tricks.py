"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs").

Each sample's features ``f (N, A)`` are projected by a learned tensor ``T (A, B*C)`` to ``B``
kernels of ``C`` dims ``M (N, B, C)``; ``o(x_i)_b = sum_{j != i} exp(-||M_ib - M_jb||_1)``
measures how close the other samples of the batch are. ``[f, o]`` goes on to the final layer,
so the discriminator can notice a collapsed (too uniform) batch.

One deviation from the paper: ``o`` is the *mean* over the other samples instead of the sum,
so it lies in [0, 1] whatever the batch size (the sum is ``N - 1`` for a collapsed batch,
64 at batch size 64, which saturates the logits at initialisation).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    """``(N, A) -> (N, A + num_kernels)``."""

    def __init__(self, in_features: int, num_kernels: int = 16, kernel_dim: int = 5):
        super().__init__()
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim
        self.out_features = in_features + num_kernels
        # Small init keeps the L1 distances O(1) so exp(-d) neither saturates nor underflows.
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim)
                              * (0.1 / math.sqrt(in_features)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        m = (features @ self.T.to(features.dtype)).view(-1, self.num_kernels, self.kernel_dim)
        dist = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # (N, N, B)
        n = features.shape[0]
        o = (torch.exp(-dist).sum(dim=1) - 1.0) / max(n - 1, 1)  # drop j == i: exp(0) = 1
        return torch.cat([features, o], dim=1)
