"""Resumable training checkpoints, one per training chain (variant and seed) and fingerprint.

A checkpoint lives at ``<cache_dir>/<variant>-seed<seed>/<fingerprint>/checkpoint.pt``;
``cache_dir`` is ``checkpoint_dir(root)``: ``$GANBENCH_CHECKPOINT_DIR`` when set (a folder
that every worker of a cluster sees, so that a chain rescheduled on another machine resumes;
``ganbench distribute`` passes it to every worker), else ``<root>/.ganbench-cache/checkpoints``.
The fingerprint hashes the variant's params and the data (``ganbench.tracking.fingerprint``),
so a changed param or changed data looks up a different folder and never resumes a stale
run. Files are written atomically (temp file + rename): an interruption while saving leaves
the previous checkpoint. While a process trains, ``owner.pid`` in the folder holds its pid and host
(``<pid> <hostname>``; a file of older versions holds the pid alone, taken as this host's).

The state holds only tensors and primitive containers (dict, list, tuple, str, int, float,
bool, None), so it loads with ``torch.load(..., weights_only=True)``: no pickled code runs.

Pruning (``prune_checkpoints``, when a chain starts training): the other fingerprints of
the same chain are removed (the variant's params or data changed, so they could resume
only if the change were undone), and so is any checkpoint not written for
``STALE_DAYS`` days; a folder whose owner is a live process is always kept (a parallel
``dvc exp run --queue`` job, or another worker, may be training it). A pid says something only
on its own host: an owner on this host is alive when its pid is; an owner on another host
(a shared checkpoint folder) cannot be asked, so it counts as alive while its folder was
written in the last ``FOREIGN_OWNER_SILENCE`` seconds (a trainer rewrites its checkpoint every
few minutes) and as gone after that. Resuming never depends on the owner: a rescheduled chain
resumes from the checkpoint of a worker that died, on whatever host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from ganbench.errors import InputError, describe
from ganbench.io import atomic_file, pid_alive

CHECKPOINT_NAME = "checkpoint.pt"
OWNER_FILE = "owner.pid"
FORMAT_VERSION = 1
STALE_DAYS = 14.0
FOREIGN_OWNER_SILENCE = 3600.0  # seconds without a write after which another host's owner is gone
CHECKPOINT_DIR_ENV = "GANBENCH_CHECKPOINT_DIR"


def checkpoint_dir(root: str | Path, given: str | None = None,
                   name: str = CHECKPOINT_DIR_ENV) -> Path:
    """Where the checkpoints live: ``given`` (``name`` says where it came from in errors),
    else ``$GANBENCH_CHECKPOINT_DIR`` (absolute; shared by the workers of a cluster), else
    ``<root>/.ganbench-cache/checkpoints``. A relative path or a path that is not a folder is
    an ``InputError``."""
    text = (given or os.environ.get(CHECKPOINT_DIR_ENV, "")).strip()
    if not text:
        return Path(root) / ".ganbench-cache" / "checkpoints"
    name = name if given else CHECKPOINT_DIR_ENV
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise InputError(f"{name}={text!r}: must be an absolute path (each stage and worker "
                         "runs in its own folder)")
    if path.exists() and not path.is_dir():
        raise InputError(f"{name}={text!r}: exists and is not a folder")
    return path


def training_fingerprint(settings: dict, seed: int, prepared_sha256: Any,
                         source_images: Any = None) -> str:
    """The fingerprint a chain's checkpoints are keyed by: the variant's settings, the seed,
    the prepared data's hashes and, for a translator, the hash of its source images (an
    unpaired task's source domain lies outside ``data/prepared``, so it must be named too)."""
    from ganbench.data.prepare import sha256
    from ganbench.tracking import fingerprint

    parts = [settings, seed, prepared_sha256]
    if source_images is not None:
        parts.append(sha256(source_images))
    return fingerprint(*parts)


def checkpoint_path(cache_dir: str | Path, variant: str, fingerprint: str) -> Path:
    """``<cache_dir>/<variant>/<fingerprint>/checkpoint.pt``."""
    return Path(cache_dir) / variant / fingerprint / CHECKPOINT_NAME


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (tensors and primitive containers only) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as handle:
        import torch  # here: checkpoint_dir serves `ganbench distribute`, which needs no torch

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
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt cache entry must not block training
        return None, f"cannot be read ({describe(exc)})"
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        return None, f"is not a ganbench checkpoint of format {FORMAT_VERSION}"
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        return None, "was written for other params or data"
    return state, None


def claim(path: str | Path) -> None:
    """Record this process (pid and host) as the one training into ``path``'s folder."""
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OWNER_FILE).write_text(f"{os.getpid()} {socket.gethostname()}\n")


def read_owner(folder: str | Path) -> tuple[int, str | None] | None:
    """``(pid, host)`` of the folder's ``owner.pid`` (host None in a file of older versions),
    or None when there is no readable owner."""
    try:
        fields = (Path(folder) / OWNER_FILE).read_text().split()
        return int(fields[0]), (fields[1] if len(fields) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


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


def _owner_alive(folder: Path, now: float) -> bool:
    owner = read_owner(folder)
    if owner is None:
        return False
    pid, host = owner
    if host is None or host == socket.gethostname():
        return pid == os.getpid() or pid_alive(pid)
    return now - _newest_write(folder) < FOREIGN_OWNER_SILENCE  # rule: module docstring


def _newest_write(folder: Path) -> float:
    """The newest modification time in ``folder`` (files may vanish meanwhile: another
    worker finishing)."""
    times = [0.0]
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            with contextlib.suppress(OSError):
                times.append(entry.stat().st_mtime)
    return max(times)


def prune_checkpoints(cache_dir: str | Path, variant: str, keep: str,
                      stale_days: float = STALE_DAYS) -> list[Path]:
    """Remove checkpoints that cannot or will not resume (rule: module docstring).
    Returns the folders removed."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return []
    now, removed = time.time(), []
    for folder in sorted(p for p in cache_dir.glob("*/*") if p.is_dir()):
        if _owner_alive(folder, now):
            continue
        superseded = folder.parent.name == variant and folder.name != keep
        if superseded or now - _newest_write(folder) > stale_days * 86400:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()
            removed.append(folder)
    return removed
