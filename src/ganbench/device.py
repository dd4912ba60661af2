"""Choosing where tensors live: ``auto`` prefers CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from ganbench.errors import DeviceError

__all__ = ["DeviceError", "autocast", "pick_device"]


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a ``device`` param (auto, cpu, cuda, mps) to a torch.device, or fail clearly."""
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise DeviceError("device: cuda was asked for, but torch sees no CUDA GPU here "
                          f"(torch {torch.__version__}); use device: auto or cpu")
    if name == "mps" and not mps:
        raise DeviceError("device: mps was asked for, but torch sees no Apple MPS device here; "
                          "use device: auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device: {name!r} is not one of auto, cpu, cuda, mps")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (no loss scaling needed); a no-op context elsewhere."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=device.type == "cuda")
