"""The translation tasks' data: deterministic, correctly paired, and the unpaired domains'
splits disjoint; the checks params make about tasks."""

from __future__ import annotations

import numpy as np
import pytest

from ganbench.config import DataParams, ParamsError
from ganbench.data.prepare import prepare_dataset
from ganbench.data.prepared import load_prepared
from ganbench.data.tasks import (MASK_FILL, build_domain_a, edge_maps, load_task,
                                 low_resolution, masked, paired_sources, write_tasks)
from ganbench.errors import InputError
from ganbench.config import load_all


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist") / "prepared"
    prepare_dataset(DataParams(source="mnist5k", image_size=16, limit=400), out)
    return load_prepared(out)


def test_edges_of_a_square_are_its_outline():
    image = np.zeros((1, 1, 8, 8), np.uint8)
    image[0, 0, 2:6, 2:6] = 255
    edges = edge_maps(image)[0, 0] > 0
    assert edges[2, 2] and edges[1, 3] and edges[5, 5]   # on and just outside the border
    assert not edges[3:5, 3:5].any()                     # flat inside
    assert not edges[0, 7]                               # flat outside


def test_low_resolution_is_the_block_mean_repeated():
    image = np.arange(64, dtype=np.uint8).reshape(1, 1, 8, 8)
    low = low_resolution(image)
    assert low.shape == image.shape
    assert low[0, 0, 0, 0] == round(image[0, 0, :4, :4].mean())
    assert (low[0, 0, :4, :4] == low[0, 0, 0, 0]).all()
    with pytest.raises(InputError, match="divisible by 4"):
        low_resolution(np.zeros((1, 1, 10, 10), np.uint8))


def test_masks_are_seeded_half_side_squares():
    images = np.zeros((5, 1, 16, 16), np.uint8)
    out = masked(images, seed=3)
    assert ((out == MASK_FILL).reshape(5, -1).sum(axis=1) == 64).all()  # 8 x 8 each
    np.testing.assert_array_equal(out, masked(images, seed=3))
    assert not np.array_equal(out, masked(images, seed=4))


@pytest.mark.parametrize("task", ["edges2image", "lowres2image", "masked2image"])
def test_paired_tasks_pair_each_target_with_its_own_source(task, prepared, tmp_path):
    data = load_task(task, prepared, tmp_path)
    assert data.paired
    np.testing.assert_array_equal(data.train_target, prepared.train_images)
    np.testing.assert_array_equal(data.test_target, prepared.test_images)
    np.testing.assert_array_equal(data.test_source_labels, prepared.test_labels)
    seed = prepared.meta["seed"]
    # row i of the sources is the transform of row i of the targets (no shuffling)
    for i in (0, 7, len(data.test_target) - 1):
        one = paired_sources(task, data.test_target[i:i + 1], seed, "test")
        if task != "masked2image":  # masks are drawn per position in the split's stream
            np.testing.assert_array_equal(data.test_source[i:i + 1], one)
    again = load_task(task, prepared, tmp_path)
    np.testing.assert_array_equal(data.train_source, again.train_source)
    np.testing.assert_array_equal(data.test_source, again.test_source)
    assert not np.array_equal(data.train_source, data.train_target)


def test_unpaired_task_domains_are_deterministic_and_share_no_image(prepared, tmp_path):
    params = DataParams(source="mnist5k", image_size=16, limit=400)
    meta = write_tasks(params, tmp_path / "tasks")
    data = load_task("digits2mnist", prepared, tmp_path / "tasks")
    assert not data.paired
    assert meta["digits2mnist"]["n_train"] + meta["digits2mnist"]["n_test"] == 1797
    assert data.train_source.shape[1:] == prepared.train_images.shape[1:]
    train = {a.tobytes() for a in data.train_source}
    test = {a.tobytes() for a in data.test_source}
    assert len(train) == len(data.train_source) and not train & test
    domain = build_domain_a(params)
    np.testing.assert_array_equal(domain["train_images"], data.train_source)
    # the two domains are different datasets: no domain-A image is an MNIST image
    assert not train & {b.tobytes() for b in data.train_target}
    # labels serve evaluation only, class-stratified
    counts = np.bincount(data.test_source_labels, minlength=10)
    assert counts.min() >= 30


def test_a_stale_domain_file_is_refused(prepared, tmp_path):
    params = DataParams(source="mnist5k", image_size=16, limit=400)
    write_tasks(params, tmp_path)
    np.savez(tmp_path / "digits2mnist" / "train.npz", images=np.zeros((3, 1, 16, 16), np.uint8),
             labels=np.zeros(3, np.int64))
    with pytest.raises(InputError, match="does not match"):
        load_task("digits2mnist", prepared, tmp_path)


@pytest.mark.parametrize("data, variant, message", [
    ("source: digits", "{preset: cyclegan}", "digits2mnist.*data.source"),
    ("image_size: 18", "{preset: pix2pix, task: lowres2image}", "multiple of 4"),
    ("image_size: 18", "{preset: cyclegan}", "multiple of 4"),
    ("source: mnist5k", "{preset: cyclegan}\nreport: {translation_metric: ssim}", "paired"),
    ("source: mnist5k", "{preset: pix2pix}\nreport: {translation_metric: cycle_l1}", "unpaired"),
    ("source: mnist5k", "{preset: pix2pix}\nreport: {primary_metric: ssim}", "primary_metric"),
])
def test_tasks_ask_the_data_for_what_they_need(data, variant, message, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(f"data: {{{data}}}\nseeds: [0]\nvariants:\n  t: {variant}\n")
    with pytest.raises(ParamsError, match=message):
        load_all(path)
