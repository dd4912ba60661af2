"""Reference statistics, the real floor and one variant's metrics file, end to end on
scikit-learn's 8x8 digits: the real stage scripts (prepare, judge, reference, evaluate) in a
temp project, with sample and train outputs written as fixture files in their formats."""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ganbench.backbones import Backbone, get_backbone
from ganbench.config import DataParams, EvalParams, JudgeParams
from ganbench.data.prepare import prepare_dataset
from ganbench.data.prepared import load_prepared
from ganbench.errors import InputError
from ganbench.evaluation import (DISABLED_REASON, REAL_TSTR_REASON, UNCONDITIONAL_REASON,
                                 VariantInputs, evaluate_variant, extract, load_reference,
                                 load_variant_inputs, score_backbone)
from ganbench import paths
from ganbench.results import SeedResult
from ganbench.tracking import start_variant_run
from report_fixtures import backbone_entry, seed_entry

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {
    "data": {"source": "digits", "image_size": 8, "seed": 0},
    "judge": {"epochs": 4, "seed": 0},
    "sample": {"n_samples": 300, "seed": 1},
    # noise_draws 1: the samples here are fixture files, with no generator to draw more from
    "eval": {"backbones": ["judge"], "kid_subsets": 20, "kid_subset_size": 200, "seed": 0,
             "noise_draws": 1},
    "seeds": [0],
    "variants": {"cond": {"arch": "dcgan", "conditional": True},
                 "plain": {"arch": "dcgan"}},
}




def stage(project: Path, name: str, *args: str, check: bool = True):
    """A stage script in its own process, as DVC runs it (about 5 s of imports)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "stages" / f"{name}.py"), *args],
                            cwd=project, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed:\n{result.stdout}\n{result.stderr}")
    return result


def stage_in_process(project: Path, name: str, *args: str) -> int:
    """The same script run in this process (``__main__``, cwd = project): no import cost."""
    saved = Path.cwd(), sys.argv
    os.chdir(project)
    sys.argv = [f"stages/{name}.py", *args]
    try:
        runpy.run_path(str(ROOT / "stages" / f"{name}.py"), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        os.chdir(saved[0])
        sys.argv = saved[1]
    return 0


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """prepare (library call) -> judge -> reference (the real stage scripts)."""
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    prepare_dataset(DataParams(**PARAMS["data"]), root / "data" / "prepared")
    assert stage_in_process(root, "judge") == 0
    assert stage_in_process(root, "reference") == 0
    return root


def write_variant(root: Path, name: str, images: np.ndarray, labels: np.ndarray,
                  conditional: bool) -> None:
    """samples/<v>/seed0/{samples.npz,samples.json}, models/<v>/seed0/weights/model.json, and
    the chain's MLflow run (as the train stage leaves them)."""
    samples = root / paths.samples_dir(name, 0)
    samples.mkdir(parents=True, exist_ok=True)
    np.savez(samples / "samples.npz", images=images, labels=labels.astype(np.int64))
    (samples / "samples.json").write_text(json.dumps({
        "variant": name, "n": len(images), "seed": 1, "class_balanced": conditional,
        "conditional": conditional, "ema": False, "status": "ok", "diverged_step": None}))
    weights = root / paths.weights_dir(name, 0)
    weights.mkdir(parents=True, exist_ok=True)
    (weights / "model.json").write_text(json.dumps({
        "variant": name, "status": "ok", "diverged_step": None, "params": {}, "arch": "dcgan",
        "loss": "nonsaturating", "conditional": conditional, "z_dim": 64, "num_classes": 10,
        "image_shape": list(images.shape[1:]), "steps": 90, "epochs": 4,
        "device": "cpu", "seed": 0, "ema": None, "fingerprint": "f" * 16}))
    with contextlib.chdir(root), start_variant_run(name, 0, f"train@{name}-0", "f" * 16,
                                                   {"arch": "dcgan"}):
        pass


def real_samples(root: Path, n: int = 300):
    prepared = load_prepared(root / "data" / "prepared")
    rows = np.random.RandomState(5).choice(len(prepared.train_labels), n, replace=False)
    return prepared.train_images[rows], prepared.train_labels[rows]


def test_reference_files(project):
    ref_dir = project / "data" / "reference"
    info = json.loads((ref_dir / "reference.json").read_text())
    assert info["split"] == "test" and info["source"] == "digits" and info["n"] == 359
    assert info["backbones"] == ["judge"]
    judge = json.loads((project / "reports" / "judge.json").read_text())
    assert info["versions"]["judge"] == judge["version"]
    ref = load_reference(ref_dir / "judge.npz")
    assert ref.features.shape == (359, 128) and ref.logits.shape == (359, 10)
    assert ref.version == judge["version"] and ref.sigma.shape == (128, 128)
    np.testing.assert_allclose(ref.mu, ref.features.mean(axis=0))


def test_floor_has_the_shape_of_a_variant(project):
    floor = json.loads((project / "data" / "reference" / "floor.json").read_text())
    contract = seed_entry("real")
    assert set(floor) == set(contract)
    SeedResult.from_json(floor, "floor.json")  # the results format's own check
    assert (floor["variant"], floor["status"], floor["tstr"]) == ("real", "ok", None)
    assert floor["tstr_reason"] == REAL_TSTR_REASON
    assert floor["samples"]["n"] == 300 and floor["reference"] == {"split": "test", "n": 359}
    entry = floor["backbones"]["judge"]
    assert set(entry) == set(backbone_entry("judge", 1.0))
    assert (entry["n_generated"], entry["n_real"], entry["kid_subset_size"]) == (300, 359, 200)
    assert entry["fid"] < 5 and entry["precision"] > 0.8 and entry["is_mean"] > 6


def test_noise_scores_far_worse_than_held_out_real_data(project):
    """Every judge metric ranks uniform noise below real train images (the floor)."""
    params = EvalParams(**PARAMS["eval"])
    backbone = get_backbone("judge", judge_dir=project / "models" / "judge",
                            eval_params=params, device="cpu")
    assert isinstance(backbone, Backbone) and backbone.is_available
    ref = load_reference(project / "data" / "reference" / "judge.npz")
    real = json.loads((project / "data" / "reference" / "floor.json").read_text())
    real = real["backbones"]["judge"]
    noise_images = np.random.default_rng(0).integers(0, 256, (300, 1, 8, 8), dtype=np.uint8)
    noise = score_backbone(backbone, extract(backbone, noise_images, 100), ref, params)
    assert noise.fid > 10 * real["fid"] + 10
    assert noise.kid_mean > real["kid_mean"] + 10 * real["kid_std"]
    assert noise.is_mean < real["is_mean"] - 2
    # k-NN precision is inflated by outliers of the real set, whose balls are large (measured
    # 0.53 for noise vs 0.97); the motivation of density (Naeem et al. 2020): 0.22 vs 1.03
    assert noise.precision < real["precision"] - 0.3
    for key in ("recall", "density", "coverage"):
        assert getattr(noise, key) < 0.3 * real[key], key


def test_evaluate_stage_end_to_end(project):
    images, labels = real_samples(project)
    write_variant(project, "cond", images, labels, conditional=True)
    out = stage(project, "evaluate", "cond", "0")
    assert "evaluate@cond-0: judge fid" in out.stdout and "tstr" in out.stdout
    metrics = json.loads((project / paths.seed_metrics("cond", 0)).read_text())
    contract = seed_entry("cond", conditional=True)
    assert set(metrics) == set(contract)
    for key in ("train", "samples", "reference", "tstr"):
        assert set(metrics[key]) == set(contract[key]), key
    assert set(metrics["backbones"]["judge"]) == set(contract["backbones"]["judge"])
    judge = json.loads((project / "reports" / "judge.json").read_text())
    entry = metrics["backbones"]["judge"]
    assert entry["version"] == judge["version"] and entry["n_generated"] == 300
    assert metrics["seed"] == 0 and metrics["eval_noise"] is None  # noise_draws: 1
    assert metrics["train"] == {"steps": 90, "epochs": 4, "device": "cpu"}
    assert metrics["samples"] == {"n": 300, "seed": 1, "class_balanced": True, "ema": False,
                                  "truncation_psi": None}
    tstr = metrics["tstr"]
    assert metrics["tstr_reason"] is None and tstr["trtr_accuracy"] == judge["trtr_accuracy"]
    assert tstr["accuracy"] > 0.8 and tstr["n_train"] == 300 and tstr["n_test"] == 359
    # what MLflow will get (the report stage logs it), under the flat names of results
    tracked = SeedResult.from_json(metrics, "cond").tracked_metrics()
    assert tracked["judge.fid"] == entry["fid"] and tracked["judge.kid_std"] == entry["kid_std"]
    assert tracked["tstr_accuracy"] == tstr["accuracy"]
    assert tracked["trtr_accuracy"] == judge["trtr_accuracy"]
    # real train images: every class of the test split, with a class histogram close to it
    modes = metrics["modes"]
    assert modes["modes_covered"] == 10 and modes["mode_kl"] < 0.05
    assert modes["classifier"] == judge["version"] and len(modes["histogram"]) == 10
    assert tracked["modes_covered"] == 10 and tracked["mode_kl"] == modes["mode_kl"]


def test_a_collapsed_generator_covers_one_mode(project):
    """Only the images of one class: the judge finds one mode, and the KL is near log 10."""
    images, labels = real_samples(project, 600)
    keep = labels == 3
    write_variant(project, "plain", images[keep], np.full(keep.sum(), -1), conditional=False)
    stage(project, "evaluate", "plain", "0")
    modes = json.loads((project / paths.seed_metrics("plain", 0)).read_text())["modes"]
    assert modes["modes_covered"] == 1
    assert 1.8 < modes["mode_kl"] < 2.31  # log 10 = 2.303 for a pure class


def test_evaluation_noise_is_the_spread_over_latent_draws(project):
    """Further draws of the same model (here: other real train images) give each backbone
    metric's std; the reported values stay those of the first draw."""
    images, labels = real_samples(project)
    write_variant(project, "drawn", images, labels, conditional=False)
    inputs = load_variant_inputs("drawn-0", project / paths.samples_dir("drawn", 0),
                                 project / paths.weights_dir("drawn", 0))
    prepared = load_prepared(project / "data" / "prepared")
    kwargs = dict(reference_dir=project / "data" / "reference",
                  judge_dir=project / "models" / "judge")
    params = EvalParams(**PARAMS["eval"])
    alone = evaluate_variant("drawn", params, JudgeParams(), False, inputs, prepared, **kwargs)
    other = [(2, real_samples(project, 300)[0][::-1].copy()),
             (3, prepared.train_images[-300:])]
    noisy = evaluate_variant("drawn", params, JudgeParams(), False, inputs, prepared,
                             noise_draws=other, **kwargs)
    assert noisy.backbones["judge"].fid == alone.backbones["judge"].fid
    assert noisy.eval_noise.draws == 3 and noisy.eval_noise.latent_seeds == [1, 2, 3]
    assert set(noisy.eval_noise.std) == {f"judge.{m}" for m in
                                         ("fid", "kid_mean", "is_mean", "precision", "recall",
                                          "density", "coverage")}
    assert 0 < noisy.eval_noise.std["judge.fid"] < alone.backbones["judge"].fid


def test_tstr_reasons_for_unconditional_and_disabled(project):
    images, _ = real_samples(project, 100)
    write_variant(project, "plain", images, np.full(100, -1), conditional=False)
    inputs = load_variant_inputs("plain-0", project / paths.samples_dir("plain", 0),
                                 project / paths.weights_dir("plain", 0))
    prepared = load_prepared(project / "data" / "prepared")
    kwargs = dict(reference_dir=project / "data" / "reference",
                  judge_dir=project / "models" / "judge")
    params = EvalParams(**PARAMS["eval"])
    plain = evaluate_variant("plain", params, JudgeParams(), False, inputs, prepared, **kwargs)
    assert plain.tstr is None and plain.tstr_reason == UNCONDITIONAL_REASON
    assert plain.backbones["judge"].kid_subset_size == 100
    assert plain.flat()["tstr_accuracy"] is None
    labelled = VariantInputs(inputs.images, np.arange(100) % 10, inputs.samples, inputs.model)
    off = evaluate_variant("plain", EvalParams(**{**PARAMS["eval"], "tstr": False}),
                           JudgeParams(), True, labelled, prepared, **kwargs)
    assert off.tstr is None and off.tstr_reason == DISABLED_REASON
    with pytest.raises(InputError, match="carry no labels"):
        evaluate_variant("plain", params, JudgeParams(), True, inputs, prepared, **kwargs)


def test_evaluate_stage_errors_are_one_line(project, capsys):
    assert stage_in_process(project, "evaluate", "nope", "0") == 2
    assert "no variant 'nope'" in capsys.readouterr().err
    (project / paths.weights_dir("ghost", 0)).mkdir(parents=True)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["variants"]["ghost"] = {"arch": "dcgan"}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert stage_in_process(project, "evaluate", "ghost", "0") == 2
    err = capsys.readouterr().err
    assert "samples.npz: missing" in err and len(err.strip().splitlines()) == 1
    write_variant(project, "ghost", np.zeros((20, 1, 28, 28), np.uint8), np.full(20, -1), False)
    assert stage_in_process(project, "evaluate", "ghost", "0") == 2
    assert "the judge was trained on (1, 8, 8)" in capsys.readouterr().err
    assert not (project / paths.seed_metrics("ghost", 0)).exists()
