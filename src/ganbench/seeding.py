"""Fixed seeds everywhere: one call seeds Python, NumPy and torch, and pins CPU determinism."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed every global RNG and return a dedicated CPU ``torch.Generator`` for the caller."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)
