"""Resumable training checkpoints, one per training chain (variant and seed) and fingerprint.

A checkpoint lives at ``<cache_dir>/<variant>-seed<seed>/<fingerprint>/checkpoint.pt``. The fingerprint
hashes the variant's params and the data (``ganbench.tracking.fingerprint``), so a changed
param or changed data looks up a different folder and never resumes a stale run. Files are
written atomically (temp file + rename): an interruption while saving leaves the previous
checkpoint. While a process trains, ``owner.pid`` in the folder holds its pid.

The state holds only tensors and primitive containers (dict, list, tuple, str, int, float,
bool, None), so it loads with ``torch.load(..., weights_only=True)``: no pickled code runs.

Pruning (``prune_checkpoints``, when a chain starts training): the other fingerprints of
the same chain are removed (the variant's params or data changed, so they could resume
only if the change were undone), and so is any checkpoint not written for
``STALE_DAYS`` days; a folder whose ``owner.pid`` is a live process is always kept (a
parallel ``dvc exp run --queue`` job may be training it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import describe
from ganbench.io import atomic_file, pid_alive

CHECKPOINT_NAME = "checkpoint.pt"
OWNER_FILE = "owner.pid"
FORMAT_VERSION = 1
STALE_DAYS = 14.0


def checkpoint_path(cache_dir: str | Path, variant: str, fingerprint: str) -> Path:
    """``<cache_dir>/<variant>/<fingerprint>/checkpoint.pt``."""
    return Path(cache_dir) / variant / fingerprint / CHECKPOINT_NAME


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (tensors and primitive containers only) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as handle:
        torch.save({"format": FORMAT_VERSION, **state}, handle)


def load_checkpoint(path: str | Path, fingerprint: str | None = None
                    ) -> tuple[dict[str, Any] | None, str | None]:
    """``(state, None)``, or ``(None, why)`` when there is no usable checkpoint at ``path``.

    ``why`` is None when there simply is none; otherwise it says why the file is ignored
    (unreadable, not weights-only, another format or fingerprint), and training then
    starts from step 0 and overwrites it.
    """
    path = Path(path)
    if not path.is_file():
        return None, None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt cache entry must not block training
        return None, f"cannot be read ({describe(exc)})"
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        return None, f"is not a ganbench checkpoint of format {FORMAT_VERSION}"
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        return None, "was written for other params or data"
    return state, None


def claim(path: str | Path) -> None:
    """Record this process as the one training into ``path``'s folder."""
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OWNER_FILE).write_text(f"{os.getpid()}\n")


def remove_checkpoint(path: str | Path) -> None:
    """Delete the checkpoint and its fingerprint folder (after a finished run)."""
    folder = Path(path).parent
    for name in (CHECKPOINT_NAME, OWNER_FILE):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    with contextlib.suppress(OSError):  # the fingerprint folder, when now empty
        folder.rmdir()
    with contextlib.suppress(OSError):  # and the variant folder
        folder.parent.rmdir()


def _owner_alive(folder: Path) -> bool:
    try:
        pid = int((folder / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    return pid == os.getpid() or pid_alive(pid)


def prune_checkpoints(cache_dir: str | Path, variant: str, keep: str,
                      stale_days: float = STALE_DAYS) -> list[Path]:
    """Remove checkpoints that cannot or will not resume (rule: module docstring).
    Returns the folders removed."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return []
    now, removed = time.time(), []
    for folder in sorted(p for p in cache_dir.glob("*/*") if p.is_dir()):
        if _owner_alive(folder):
            continue
        superseded = folder.parent.name == variant and folder.name != keep
        newest = max((p.stat().st_mtime for p in folder.iterdir()), default=0.0)
        if superseded or now - newest > stale_days * 86400:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()
            removed.append(folder)
    return removed
