"""Resumable training checkpoints, one per training fingerprint.

A checkpoint lives at ``<cache_dir>/<fingerprint>/checkpoint.pt``. The fingerprint hashes the
variant's params and the data (``ganbench.tracking.fingerprint``), so a changed param or
changed data looks up a different folder and never resumes a stale run. Files are written
atomically (temp file + rename): an interruption while saving leaves the previous checkpoint.

The state holds only tensors and primitive containers (dict, list, tuple, str, int, float,
bool, None), so it loads with ``torch.load(..., weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from ganbench.io import atomic_file

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


def checkpoint_path(cache_dir: str | Path, fingerprint: str) -> Path:
    """``<cache_dir>/<fingerprint>/checkpoint.pt``."""
    return Path(cache_dir) / fingerprint / CHECKPOINT_NAME


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (tensors and primitive containers only) to ``path``."""
    path = Path(path)
    with atomic_file(path, "wb") as handle:
        torch.save({"format": FORMAT_VERSION, **state}, handle)


def load_checkpoint(path: str | Path, fingerprint: str | None = None) -> dict[str, Any] | None:
    """The saved state, or None when there is no usable checkpoint at ``path``.

    A file of another format version or another fingerprint (should the folder have been
    copied by hand) is ignored, and so is a file that cannot be read (training then starts
    from scratch and overwrites it).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a corrupt cache entry must not block training
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        return None
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        return None
    return state


def remove_checkpoint(path: str | Path) -> None:
    """Delete the checkpoint and its fingerprint folder (after a finished run)."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with contextlib.suppress(OSError):  # the fingerprint folder, when now empty
        path.parent.rmdir()
