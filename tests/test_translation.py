"""Translators end to end below the pipeline: a toy pix2pix run that learns (it beats an
untrained generator on L1 and on class preservation), and the sample and evaluate steps of a
paired and an unpaired translator on real files (judge, reference statistics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.config import (DataParams, EvalParams, JudgeParams, SampleParams, VariantParams,
                             validate_section)
from ganbench.classifier import run_judge
from ganbench.data.prepare import prepare_dataset
from ganbench.data.prepared import load_prepared
from ganbench.data.tasks import load_task, write_tasks
from ganbench.evaluation import build_reference, judge_classes, load_variant_inputs
from ganbench.io import write_json
from ganbench.models import build_models
from ganbench.sampling import load_generator
from ganbench.seeding import seed_everything
from ganbench.training import train_variant
from ganbench.translation import (TRIPLETS_FILE, evaluate_translation, read_translations,
                                  score_translation, translate, write_translations)

DATA = DataParams(source="mnist5k", image_size=16, limit=1200)
EVAL = EvalParams(backbones=["judge"], kid_subsets=5, kid_subset_size=100, prdc_k=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Prepared digits, the translation tasks, a judge and the reference statistics."""
    root = tmp_path_factory.mktemp("translation")
    prepare_dataset(DATA, root / "prepared")
    prepared = load_prepared(root / "prepared")
    write_tasks(DATA, root / "tasks")
    run_judge(JudgeParams(epochs=3, batch_size=64), prepared, root / "judge",
              root / "judge.json")
    build_reference(EVAL, SampleParams(n_samples=200), prepared, root / "reference",
                    root / "judge")
    return root, prepared


def train(world, name: str, spec: dict):
    root, prepared = world
    cfg = validate_section(VariantParams, spec, f"variants.{name}")
    task = load_task(cfg.task, prepared, root / "tasks")
    weights = root / name / "weights"
    result = train_variant(name, cfg, task.train_source, prepared.train_labels, 10, weights,
                           root / name / "train_log.tsv", root / "cache", name, seed=0,
                           targets_u8=task.train_target, progress=False)
    return cfg, task, weights, result


def test_pix2pix_beats_an_untrained_generator_on_l1_and_class_preservation(world):
    root, prepared = world
    cfg, task, weights, result = train(world, "p2p", {
        "preset": "pix2pix", "width": 16, "epochs": 6, "batch_size": 32})
    assert result.status == "ok"
    trained, _ = load_generator(weights)
    seed_everything(0)
    untrained = build_models(cfg, task.image_shape, 10).generator.eval()

    def score(generator):
        outputs = translate(generator, task.test_source)
        predicted, version = judge_classes(outputs, prepared, EVAL, root / "judge",
                                           torch.device("cpu"))
        return score_translation(outputs, task.test_source_labels, predicted, task.test_target,
                                 task.test_source, None, cfg.task, version)

    after, before = score(trained), score(untrained)
    assert after.l1 < 0.5 * before.l1
    assert after.psnr > before.psnr + 5 and after.ssim > before.ssim + 0.3
    assert after.class_preservation > before.class_preservation + 0.4


@pytest.mark.parametrize("name, spec", [
    ("l1u", {"preset": "l1_unet", "width": 8, "epochs": 1}),
    ("cyc", {"preset": "cyclegan", "width": 8, "blocks": 1, "epochs": 1, "pool_size": 8}),
])
def test_sample_and_evaluate_write_the_translation_metrics(world, name, spec):
    root, prepared = world
    cfg, task, weights, _ = train(world, name, spec)
    generator, info = load_generator(weights)
    out = root / name / "samples"
    out.mkdir()
    record = write_translations(generator, info, task, out, torch.device("cpu"))
    write_json(out / "samples.json", {**record, "status": "ok", "diverged_step": None})
    assert (out / TRIPLETS_FILE).read_bytes().startswith(b"\x89PNG")
    inputs = load_variant_inputs(name, out, weights)
    translations = read_translations(out, len(inputs.images), task.paired, f"{name}-0")
    result = evaluate_translation(name, EVAL, inputs, translations, prepared,
                                  root / "reference", root / "judge")
    flat = result.flat()
    assert result.task == cfg.task and result.tstr is None and result.tstr_reason
    assert flat["judge.fid"] > 0 and 0 <= flat["class_preservation"] <= 1
    assert flat["judge.kid_mean"] is not None and flat["sharpness"] > 0
    if task.paired:
        assert len(inputs.images) == len(prepared.test_images)
        assert flat["l1"] > 0 and flat["psnr"] > 0 and flat["ssim"] is not None
        assert flat["cycle_l1"] is None
    else:
        assert len(inputs.images) == len(task.test_source) != len(prepared.test_images)
        assert flat["cycle_l1"] > 0 and flat["l1"] is None and flat["ssim"] is None
    again = type(result).from_json(result.to_json(), "roundtrip")
    assert again.flat() == flat
    np.testing.assert_array_equal(inputs.labels, task.test_source_labels)
