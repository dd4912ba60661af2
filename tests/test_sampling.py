"""Sampling: fixed-seed samples, class balance, grids, interpolation, the sample stage."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganbench import paths
from ganbench.config import VariantParams, validate_section
from ganbench.sampling import (GRID_PADDING, balanced_labels, class_sweep, generate,
                               grid_image, interpolation, load_generator, save_grid)
from ganbench.training import train_variant

ROOT = Path(__file__).resolve().parents[1]




def train_tiny(folder: Path, shape=(1, 8, 8), **spec) -> Path:
    spec = {"arch": "dcgan", "width": 8, "z_dim": 5, "batch_size": 8, "epochs": 1, **spec}
    cfg = validate_section(VariantParams, spec, "variants.x")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, *shape), dtype=np.uint8)
    labels = np.arange(32, dtype=np.int64) % 4
    weights = folder / "weights"
    train_variant("x", cfg, images, labels, 4, weights, folder / "train_log.tsv",
                  folder / "cache", "fp", progress=False)
    return weights


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("trained")
    return {"uncond": train_tiny(root / "uncond"),
            "cond": train_tiny(root / "cond", (3, 16, 16), conditional=True, ema=0.9),
            "vae": train_tiny(root / "vae", arch="vae", conditional=True)}


def test_generate_is_deterministic_and_batch_independent(trained):
    g, info = load_generator(trained["uncond"])
    assert not g.training and info["ema_used"] is False
    a, labels = generate(g, info, 23, seed=5)
    b, _ = generate(g, info, 23, seed=5, batch_size=4)
    c, _ = generate(g, info, 23, seed=6)
    assert labels is None
    assert a.dtype == np.uint8 and a.shape == (23, 1, 8, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_conditional_samples_are_class_balanced(trained):
    g, info = load_generator(trained["cond"])
    assert info["ema_used"] is True and info["conditional"] is True
    images, labels = generate(g, info, 22, seed=0)
    assert images.shape == (22, 3, 16, 16) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [6, 6, 5, 5]
    np.testing.assert_array_equal(labels[:8], [0, 1, 2, 3, 0, 1, 2, 3])
    raw, info_raw = load_generator(trained["cond"], use_ema=False)
    assert info_raw["ema_used"] is False
    assert not np.array_equal(generate(raw, info_raw, 22, seed=0)[0], images)


def test_vae_decoder_is_a_generator(trained):
    g, info = load_generator(trained["vae"])
    images, labels = generate(g, info, 8, seed=0)
    assert images.shape == (8, 1, 8, 8) and labels.tolist() == balanced_labels(8, 4).tolist()


def test_grid_bytes_are_deterministic_and_rows_are_classes(trained, tmp_path):
    g, info = load_generator(trained["cond"])
    images, labels = generate(g, info, 40, seed=0)
    save_grid(images, tmp_path / "a.png", columns=10, labels=labels)
    save_grid(images, tmp_path / "b.png", columns=10, labels=labels)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    grid = np.asarray(Image.open(tmp_path / "a.png"))
    p = GRID_PADDING
    assert grid.shape == (p + 4 * (16 + p), p + 10 * (16 + p), 3)  # one row per class
    # row 1 holds the class-1 images in order
    np.testing.assert_array_equal(grid[p + 16 + p:p + 16 + p + 16, p:p + 16],
                                  np.moveaxis(images[1], 0, -1))
    gray = grid_image(np.full((7, 1, 4, 4), 200, np.uint8), columns=3)
    assert gray.shape == (p + 3 * (4 + p), p + 3 * (4 + p))


def test_interpolation_strip(trained, tmp_path):
    g, info = load_generator(trained["uncond"])
    images, labels = interpolation(g, info, 6, seed=3, path=tmp_path / "i.png")
    assert images.shape == (6, 1, 8, 8) and labels is None
    again, _ = interpolation(g, info, 6, seed=3)
    np.testing.assert_array_equal(images, again)
    assert Image.open(tmp_path / "i.png").size == (GRID_PADDING + 6 * (8 + GRID_PADDING),
                                                   GRID_PADDING + 8 + GRID_PADDING)
    g, info = load_generator(trained["cond"])
    images, labels = interpolation(g, info, 5, seed=3)
    assert images.shape == (20, 3, 16, 16)
    assert labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    # same codes in each row: only the class differs
    assert not np.array_equal(images[:5], images[5:10])


def test_class_sweep_holds_z_per_row_and_walks_every_class(trained, tmp_path):
    g, info = load_generator(trained["cond"])
    images, labels = class_sweep(g, info, 3, seed=4, path=tmp_path / "s.png")
    assert images.shape == (12, 3, 16, 16) and labels.tolist() == [0, 1, 2, 3] * 3
    again, _ = class_sweep(g, info, 3, seed=4)
    np.testing.assert_array_equal(images, again)
    # row r is z_r with classes 0..3: the same as generating z_r with each label
    z = torch.randn(3, int(info["z_dim"]), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        row0 = g(z[:1].repeat(4, 1), torch.arange(4))
    from ganbench.images import signed_to_uint8
    np.testing.assert_array_equal(images[:4], signed_to_uint8(row0).numpy())
    assert Image.open(tmp_path / "s.png").size[0] == GRID_PADDING + 4 * (16 + GRID_PADDING)
    with pytest.raises(ValueError, match="conditional"):
        class_sweep(*load_generator(trained["uncond"]), 2, seed=0)


def run_sample_stage(variant, monkeypatch, capsys, seed: int = 0):
    """``python stages/sample.py <variant> <seed>`` in the current folder (in-process: no
    torch import per call). Returns (exit code, stderr)."""
    monkeypatch.delenv("DVC_STAGE", raising=False)
    monkeypatch.setattr(sys, "argv", ["stages/sample.py", variant, str(seed)])
    code = 0
    try:
        runpy.run_path(str(ROOT / "stages" / "sample.py"), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_sample_stage(trained, tmp_path, monkeypatch, capsys):
    """``python stages/sample.py <v> <s>`` in a project folder, as DVC runs it."""
    import shutil

    for name, spec in (("plain", {"arch": "dcgan"}),
                       ("cond", {"arch": "dcgan", "conditional": True, "ema": 0.9})):
        shutil.copytree(trained["uncond" if name == "plain" else "cond"],
                        tmp_path / paths.weights_dir(name, 0))
    params = {"sample": {"n_samples": 30, "seed": 3, "grid_columns": 5,
                         "interpolation_steps": 4}, "seeds": [0],
              "variants": {"plain": {"arch": "dcgan", "device": "cpu"},
                           "cond": {"arch": "dcgan", "conditional": True, "ema": 0.9}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    for name in ("plain", "cond"):
        code, err = run_sample_stage(name, monkeypatch, capsys)
        assert code == 0, err
    with np.load(tmp_path / paths.samples_dir("plain", 0) / "samples.npz") as npz:
        assert npz["images"].shape == (30, 1, 8, 8) and npz["images"].dtype == np.uint8
        assert npz["labels"].dtype == np.int64 and (npz["labels"] == -1).all()
    meta = json.loads((tmp_path / paths.samples_dir("cond", 0) / "samples.json").read_text())
    assert meta == {"variant": "cond", "train_seed": 0, "n": 30, "seed": 3,
                    "class_balanced": True, "conditional": True, "ema": True,
                    "truncation_psi": None, "status": "ok", "diverged_step": None}
    with np.load(tmp_path / paths.samples_dir("cond", 0) / "samples.npz") as npz:
        assert np.bincount(npz["labels"]).tolist() == [8, 8, 7, 7]
    for name in ("grid.png", "interpolation.png", "class_sweep.png"):
        assert (tmp_path / paths.samples_dir("cond", 0) / name).is_file()
    assert not (tmp_path / paths.samples_dir("plain", 0) / "class_sweep.png").exists()
    # an unknown variant is one clear line, exit 2
    code, err = run_sample_stage("nope", monkeypatch, capsys)
    assert code == 2 and "no variant 'nope'" in err
    assert not (tmp_path / "samples" / "nope").exists()
    code, err = run_sample_stage("plain", monkeypatch, capsys, seed=7)
    assert code == 2 and "seed 7 is not in params.yaml's seeds [0]" in err


class _Payload:
    """Pickles to a call of ``pathlib.Path.touch``: loading it must never run it."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


@pytest.mark.parametrize("damage", ["truncated", "foreign", "random", "unsafe"])
def test_damaged_generator_file_is_one_clear_error(trained, tmp_path, monkeypatch, capsys,
                                                   damage):
    """A truncated, foreign, random or code-carrying generator.pt: the sample stage names the
    file and how to write it again, in one line; a pickled payload is never executed."""
    import shutil

    weights = tmp_path / paths.weights_dir("plain", 0)
    shutil.copytree(trained["uncond"], weights)
    target = weights / "generator.pt"
    pwned = tmp_path / "pwned"
    if damage == "truncated":
        target.write_bytes(target.read_bytes()[:200])
    elif damage == "foreign":
        torch.save({"something": torch.zeros(3)}, target)
    elif damage == "random":
        target.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        torch.save({"weights": _Payload(pwned)}, target)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"sample": {"n_samples": 30}, "seeds": [0], "variants": {"plain": {"arch": "dcgan"}}}))
    monkeypatch.chdir(tmp_path)
    code, err = run_sample_stage("plain", monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganbench sample: error: ")
    assert "models/plain/seed0/weights/generator.pt" in err
    assert "dvc repro --force train@plain-0" in err
    assert not pwned.exists()
    assert not (tmp_path / "samples" / "plain").exists()
