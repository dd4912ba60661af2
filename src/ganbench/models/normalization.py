"""Normalisations beyond batch norm: spectral norm for discriminators (Miyato et al. 2018) and
virtual batch norm for generators (Salimans et al. 2016).

- ``spectral_normalize(module)``: every Conv2d / ConvTranspose2d / Linear weight ``W`` is
  divided by its largest singular value (of ``W`` reshaped to (out, -1)), estimated by one
  power iteration per training forward (``torch.nn.utils.parametrizations.spectral_norm``), so
  each layer is 1-Lipschitz.
- ``VirtualBatchNorm2d``: each example is normalised with the statistics of a *reference
  batch*, fixed at the start of training, together with the example itself (weight
  1/(R+1)), instead of the statistics of its own minibatch. The network runs on
  ``[reference; batch]`` in one pass; the reference rows come first and are normalised by
  the reference statistics alone. An output then depends on its own input only, never on the
  other examples of the batch (Salimans et al. 2016, section 3.5).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

REFERENCE_BATCH = 32  # rows of the fixed reference batch of virtual batch norm
_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Spectral norm on every conv and linear layer of ``module`` (in place); returns it."""
    for child in list(module.modules()):
        if isinstance(child, _LAYERS) and not hasattr(child, "parametrizations"):
            spectral_norm(child)
    return module


class VirtualBatchNorm2d(nn.Module):
    """Virtual batch norm over ``(N, C, H, W)`` whose first ``reference_size`` rows are the
    reference batch; learnable per-channel scale and shift as batch norm."""

    def __init__(self, num_features: int, reference_size: int = REFERENCE_BATCH,
                 eps: float = 1e-5):
        super().__init__()
        self.reference_size, self.eps = reference_size, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reference_size
        if x.shape[0] < r:
            raise ValueError(f"virtual batch norm needs the {r} reference rows first, got "
                             f"{x.shape[0]} rows")
        ref = x[:r]
        ref_mean = ref.mean(dim=(0, 2, 3), keepdim=True)
        ref_sq = (ref * ref).mean(dim=(0, 2, 3), keepdim=True)
        share = 1.0 / (r + 1)
        mean = (1 - share) * ref_mean + share * x.mean(dim=(2, 3), keepdim=True)
        sq = (1 - share) * ref_sq + share * (x * x).mean(dim=(2, 3), keepdim=True)
        is_ref = (torch.arange(x.shape[0], device=x.device) < r).view(-1, 1, 1, 1)
        mean = torch.where(is_ref, ref_mean, mean)
        var = (torch.where(is_ref, ref_sq, sq) - mean * mean).clamp_min(0.0)
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)
