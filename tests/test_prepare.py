"""prepare_dataset, load_prepared and the prepare stage script, on real sources (no mocks)."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganbench.config import DataParams, ParamsError
from ganbench.data import load_meta, load_prepared
from ganbench.data.prepare import prepare_dataset
from ganbench.errors import InputError
from ganbench.io import write_npz

STAGE = Path(__file__).resolve().parents[1] / "stages" / "prepare.py"
FILES = ("train.npz", "test.npz", "meta.json")
DIGIT_COUNTS = np.array([178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


def digits(**overrides) -> DataParams:
    return DataParams(**{"source": "digits", "image_size": 8, **overrides})


def file_bytes(folder: Path) -> dict:
    return {name: (folder / name).read_bytes() for name in FILES}


def colour_tree(root: Path, colours: dict, size=(6, 6), copies=5) -> None:
    """An ImageFolder tree: one class per colour, ``copies`` uniform RGB PNGs each."""
    for name, rgb in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(copies):
            Image.new("RGB", size[::-1], rgb).save(root / name / f"{i}.png")


def test_default_mnist5k(tmp_path):
    meta = prepare_dataset(DataParams(), tmp_path / "out")
    data = load_prepared(tmp_path / "out")
    assert data.image_shape == (1, 28, 28) and data.num_classes == 10
    assert data.train_images.shape == (4000, 1, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_labels.dtype == np.int64 and len(data.test_labels) == 1000
    assert meta["counts"] == {"train": [400] * 10, "test": [100] * 10}
    assert meta["split"] == "stratified test_fraction=0.2" and meta["source"] == "mnist5k"
    assert len(set(data.train_labels[:50].tolist())) > 5  # shuffled: the source is sorted
    assert data.meta == meta


def test_stratified_within_one_of_expected(tmp_path):
    meta = prepare_dataset(digits(test_fraction=0.3), tmp_path / "out")
    test = np.array(meta["counts"]["test"])
    assert np.all(np.abs(test - 0.3 * DIGIT_COUNTS) <= 1)
    assert test.sum() == round(0.3 * DIGIT_COUNTS.sum())
    assert np.array_equal(test + meta["counts"]["train"], DIGIT_COUNTS)


def test_same_params_give_byte_identical_files(tmp_path):
    prepare_dataset(digits(image_size=12), tmp_path / "a")
    prepare_dataset(digits(image_size=12), tmp_path / "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


def test_other_seed_other_split(tmp_path):
    a = prepare_dataset(digits(seed=0), tmp_path / "a")
    b = prepare_dataset(digits(seed=1), tmp_path / "b")
    assert a["sha256"]["test"] != b["sha256"]["test"]
    assert np.all(np.abs(np.array(b["counts"]["test"]) - 0.2 * DIGIT_COUNTS) <= 1)


def test_limit_is_stratified_and_leaves_test_alone(tmp_path):
    full = prepare_dataset(digits(), tmp_path / "full")
    meta = prepare_dataset(digits(limit=100), tmp_path / "out")
    assert meta["n_train"] == 100 and meta["limit"] == 100
    expected = 100 * np.array(full["counts"]["train"]) / full["n_train"]
    assert np.all(np.abs(np.array(meta["counts"]["train"]) - expected) <= 1)
    assert meta["sha256"]["test"] == full["sha256"]["test"]


def test_pad_centres_on_zeros(tmp_path):
    prepare_dataset(digits(), tmp_path / "a")
    native = load_prepared(tmp_path / "a")
    padded = prepare_dataset(digits(image_size=13, resize="pad"), tmp_path / "b")
    images = load_prepared(tmp_path / "b").train_images
    assert padded["image_shape"] == [1, 13, 13]
    np.testing.assert_array_equal(images[:, :, 2:10, 2:10], native.train_images)
    assert images[:, :, :2].max() == 0 and images[:, :, 10:].max() == 0
    assert images[:, :, :, :2].max() == 0 and images[:, :, :, 10:].max() == 0


def test_pad_never_shrinks_and_fails_before_loading(tmp_path):
    with pytest.raises(ParamsError, match="'pad' never shrinks.*28x28.*image_size = 16"):
        prepare_dataset(DataParams(image_size=16, resize="pad"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_resize_keeps_uniform_images_and_crops_the_centre(tmp_path):
    root = tmp_path / "tree"
    colour_tree(root, {"a": (10, 20, 30), "b": (200, 100, 0)}, size=(12, 12))
    wide = np.zeros((10, 20, 3), np.uint8)
    wide[:, 5:15] = 255  # white centre square, black side bands
    Image.fromarray(wide).save(root / "a" / "wide.png")
    params = DataParams(source="folder", root=str(root), channels=3, image_size=16,
                        test_fraction=0.3)
    prepare_dataset(params, tmp_path / "out")
    data = load_prepared(tmp_path / "out")
    images = np.concatenate([data.train_images, data.test_images])
    flat = images.reshape(len(images), 3, -1)
    whites = [i for i in range(len(images)) if flat[i].max() == 255]
    assert len(whites) == 1
    # the wide image: side bands cropped (a stretch would keep ~4 black columns a side)
    assert images[whites[0]].min() > 128 and images[whites[0], :, :, 2:-2].min() == 255
    uniform = [i for i in range(len(images)) if i not in whites]
    assert all(np.ptp(flat[i], axis=1).max() == 0 for i in uniform)
    colours = {tuple(flat[i][:, 0].tolist()) for i in uniform}
    assert colours == {(10, 20, 30), (200, 100, 0)}


def test_rgb_to_gray_uses_itu_601_luma(tmp_path):
    root = tmp_path / "tree"
    colour_tree(root, {"r": (255, 0, 0), "g": (0, 255, 0), "b": (0, 0, 255), "w": (255,) * 3})
    prepare_dataset(DataParams(source="folder", root=str(root), image_size=8, channels=1),
                    tmp_path / "out")
    data = load_prepared(tmp_path / "out")
    names = data.meta["class_names"]
    for images, labels in ((data.train_images, data.train_labels),
                           (data.test_images, data.test_labels)):
        for image, label in zip(images, labels):
            assert image.shape == (1, 8, 8)
            # 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1
            assert image.min() == image.max() == {"r": 76, "g": 150, "b": 29,
                                                  "w": 255}[names[label]]


def test_gray_to_rgb_replicates(tmp_path):
    prepare_dataset(digits(channels=3, limit=50), tmp_path / "out")
    images = load_prepared(tmp_path / "out").train_images
    assert images.shape == (50, 3, 8, 8)
    assert np.array_equal(images[:, 0], images[:, 1]) and np.array_equal(images[:, 0],
                                                                          images[:, 2])


def test_params_built_in_code_are_validated(tmp_path):
    with pytest.raises(ParamsError, match="data.channels = 2"):
        prepare_dataset(digits(channels=2), tmp_path / "out")


def test_too_few_images_for_a_test_split(tmp_path):
    colour_tree(tmp_path / "tree", {"a": (0, 0, 0), "b": (9, 9, 9)}, copies=2)
    params = DataParams(source="folder", root=str(tmp_path / "tree"), test_fraction=0.1)
    with pytest.raises(InputError, match="test_fraction = 0.1 of 4 images leaves 0 test"):
        prepare_dataset(params, tmp_path / "out")


def test_failure_leaves_no_partial_output(tmp_path):
    root = tmp_path / "tree"
    colour_tree(root, {"a": (0, 0, 0), "b": (9, 9, 9)})
    (root / "b" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError, match="3.png"):
        prepare_dataset(DataParams(source="folder", root=str(root)), tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["tree"]  # no out, no temp siblings


def test_failure_keeps_previous_output(tmp_path):
    out = tmp_path / "out"
    prepare_dataset(digits(limit=20), out)
    before = file_bytes(out)
    with pytest.raises(InputError):
        prepare_dataset(DataParams(source="folder", root=str(tmp_path / "nowhere")), out)
    colour_tree(tmp_path / "tree", {"a": (0, 0, 0), "b": (9, 9, 9)}, size=(12, 12))
    with pytest.raises(InputError, match="images are 12x12, larger than data.image_size = 8"):
        prepare_dataset(DataParams(source="folder", root=str(tmp_path / "tree"), image_size=8,
                                   resize="pad"), out)  # fails while converting images
    assert file_bytes(out) == before
    assert sorted(os.listdir(tmp_path)) == ["out", "tree"]


# --------------------------------------------------------------------------- load_prepared


def test_load_prepared_missing_says_run_dvc_repro(tmp_path):
    with pytest.raises(InputError, match=r"meta.json not found; run `dvc repro prepare`"):
        load_prepared(tmp_path / "nothing")
    prepare_dataset(digits(limit=20), tmp_path / "out")
    (tmp_path / "out" / "test.npz").unlink()
    with pytest.raises(InputError, match=r"test.npz not found; run `dvc repro prepare`"):
        load_prepared(tmp_path / "out")


def test_load_prepared_checks_dtypes_shapes_and_hashes(tmp_path):
    out = tmp_path / "out"
    prepare_dataset(digits(limit=20), out)
    assert load_meta(out)["n_train"] == 20
    good = load_prepared(out)
    write_npz(out / "train.npz", images=good.train_images.astype(np.float32),
              labels=good.train_labels)
    with pytest.raises(InputError, match="images are float32"):
        load_prepared(out)
    tampered = good.train_images.copy()
    tampered[0, 0, 0, 0] ^= 1
    write_npz(out / "train.npz", images=tampered, labels=good.train_labels)
    with pytest.raises(InputError, match="do not match the sha256"):
        load_prepared(out)
    assert load_prepared(out, verify=False).train_images[0, 0, 0, 0] == tampered[0, 0, 0, 0]


# --------------------------------------------------------------------------- stage script


def test_stage_writes_data_prepared(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text("data:\n  source: digits\n  image_size: 8\n  limit: 30\n"
                                   "seeds: [0]\nvariants:\n  a: {}\n")
    runpy.run_path(str(STAGE), run_name="__main__")
    assert "digits: 30 train + 359 test images of 1x8x8" in capsys.readouterr().out
    assert load_prepared("data/prepared").train_images.shape == (30, 1, 8, 8)


def test_stage_user_error_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text("data:\n  source: folder\n  root: missing\nseeds: [0]\nvariants:\n  a: {}\n")
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(STAGE), run_name="__main__")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganbench prepare: error: data.root = 'missing': no such folder")
    assert "\n" not in err and not Path("data/prepared").exists()
