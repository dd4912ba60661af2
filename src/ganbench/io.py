"""Atomic outputs: write a temp copy, rename it into place at the end, so no partial file
survives, and temp copies live where no DVC stage or git looks (``scratch_dir``)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


SCRATCH_DIR = Path(".ganbench-cache") / "tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def scratch_dir(target: str | Path) -> Path:
    """Where the temp copy of ``target`` is written before it is renamed into place.

    Inside a DVC workspace: ``<workspace>/.ganbench-cache/tmp`` (git- and dvc-ignored), so a
    process killed mid-write leaves nothing that a stage's dependency or ``git status`` sees,
    and ``clean_scratch`` removes it on the next run. Elsewhere: the target's own folder.
    """
    parent = Path(target).absolute().parent
    for folder in (parent, *parent.parents):
        if (folder / ".dvc").is_dir():
            scratch = folder / SCRATCH_DIR
            scratch.mkdir(parents=True, exist_ok=True)
            return scratch
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (temp files and checkpoints carry
    their writer's pid, so leftovers of killed processes can be told apart)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_scratch(workspace: str | Path) -> list[Path]:
    """Remove temp outputs left in ``<workspace>/.ganbench-cache/tmp`` by processes that are
    gone (``kill -9``, a crash); those of live processes stay. Returns what was removed."""
    scratch = Path(workspace) / SCRATCH_DIR
    removed = []
    for entry in scratch.glob("*") if scratch.is_dir() else []:
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and (int(pid) == os.getpid() or pid_alive(int(pid))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def _replace(src: Path, dst: Path) -> None:
    """``os.replace``, or a copy beside ``dst`` then a rename when they are on two filesystems."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        near = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
        shutil.move(str(src), str(near))
        os.replace(near, dst)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temp folder (``scratch_dir``); on success it replaces ``path``, else it is
    removed. A reader sees the old folder or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = scratch_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{path.name}.", dir=scratch))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs follow the umask
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        old = scratch / f"{os.getpid()}-{path.name}.old-{tmp.name.rsplit('.', 1)[-1]}"
        _replace(path, old)
        _replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    else:
        _replace(tmp, path)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open a temp file (``scratch_dir``) for writing; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}-{path.name}.", dir=scratch_dir(path))
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        _replace(Path(tmp), path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, data: Any, sort_keys: bool = True) -> None:
    """Atomically write indented JSON, keys sorted unless the caller's order is the point
    (stable bytes for DVC and diffs either way)."""
    with atomic_file(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=sort_keys, allow_nan=False)
        handle.write("\n")


def read_json(path: str | Path) -> Any:
    with open(path) as handle:
        return json.load(handle)


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Atomically write an uncompressed .npz that ``np.load`` reads.

    Unlike ``np.savez`` the zip entries carry a fixed timestamp, so identical arrays give
    byte-identical files (DVC hashes, reproducibility checks).
    """
    with atomic_file(path, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.ascontiguousarray(array),
                                          allow_pickle=False)
