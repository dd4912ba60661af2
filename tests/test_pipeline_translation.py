"""The real pipeline of a translation-only project: pix2pix, the L1 U-Net (both on a paired
task) and CycleGAN (unpaired) by preset on tiny settings, with `dvc repro` in a temporary
git + DVC repository. Checks the metrics each kind writes, the report's sections, and that
changing a translation variant reruns only its chain (from what DVC ran). Generators beside
translators in one report: tests/test_report.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ganbench import paths
from pipeline_util import dvc, git, make_repo, stages_run

pytestmark = pytest.mark.slow

PARAMS = {
    "data": {"source": "mnist5k", "image_size": 16, "limit": 400},
    "judge": {"epochs": 2, "width": 8},
    "sample": {"n_samples": 100, "seed": 1},
    "eval": {"backbones": ["judge"], "kid_subsets": 5, "kid_subset_size": 50, "prdc_k": 3,
             "noise_draws": 1},
    "report": {},
    "seeds": [0],
    "variants": {
        "p2p": {"preset": "pix2pix", "epochs": 1, "width": 8},
        "l1u": {"preset": "l1_unet", "epochs": 1, "width": 8},
        "cyc": {"preset": "cyclegan", "epochs": 1, "width": 8, "blocks": 1},
    },
}
VARIANTS = tuple(PARAMS["variants"])


def chain(name: str) -> set[str]:
    return {f"{stage}@{name}-0" for stage in ("train", "sample", "evaluate")}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = make_repo(tmp_path_factory.mktemp("translation-pipeline"), PARAMS)
    ran = stages_run(dvc(path, "repro").stdout)
    assert ran == {"prepare", "tasks", "judge", "reference", "aggregate", "report"} | \
        set().union(*(chain(v) for v in VARIANTS))
    git(path, "add", "-A")
    git(path, "commit", "-qm", "first run")
    return path


def test_each_translator_writes_its_metrics(repo):
    flat = {}
    for name in VARIANTS:
        result = json.loads((repo / paths.seed_metrics(name, 0)).read_text())
        flat[name] = result
    for name in ("p2p", "l1u", "cyc"):
        scores = flat[name]["translation"]
        assert flat[name]["backbones"]["judge"]["fid"] > 0
        assert flat[name]["backbones"]["judge"]["kid_mean"] is not None
        assert 0 <= scores["class_preservation"] <= 1
        assert scores["sharpness"] > 0  # against the real test images, for both kinds of task
    for name in ("p2p", "l1u"):
        scores = flat[name]["translation"]
        assert (flat[name]["task"], scores["paired"]) == ("edges2image", True)
        assert scores["l1"] > 0 and scores["psnr"] > 0 and scores["ssim"] is not None
        assert scores["cycle_l1"] is None
    cyc = flat["cyc"]["translation"]
    assert flat["cyc"]["task"] == "digits2mnist" and cyc["cycle_l1"] > 0 and cyc["l1"] is None
    assert (repo / paths.samples_dir("cyc", 0) / "triplets.png").is_file()


def test_aggregate_and_report_rank_each_task_apart(repo):
    aggregate = json.loads((repo / paths.AGGREGATE_FILE).read_text())
    assert {v: aggregate[v]["task"] for v in VARIANTS} == {
        "p2p": "edges2image", "l1u": "edges2image", "cyc": "digits2mnist"}
    assert aggregate["cyc"]["metrics"]["cycle_l1"]["n"] == 1
    comparisons = json.loads((repo / paths.COMPARISONS_FILE).read_text())
    assert comparisons["metrics"] == {}  # no generators
    assert set(comparisons["tasks"]) == {"edges2image", "digits2mnist"}
    assert set(comparisons["tasks"]["edges2image"]["metrics"]["judge.fid"]["ranks"]) == \
        {"p2p", "l1u"}
    summary = (repo / "reports/summary.md").read_text()
    assert "### Translation: edges2image" in summary
    assert "### Translation: digits2mnist" in summary and "cycle L1" in summary
    page = (repo / "reports/index.html").read_text()
    assert page.count('class="card"') == 3 and "Translation: digits2mnist" in page
    assert (repo / "reports/figures/translation_edges2image.svg").is_file()


def test_changing_a_translator_reruns_only_its_chain(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["variants"]["l1u"]["lr_g"] = 0.001
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        ran = stages_run(dvc(repo, "repro").stdout)
        assert ran == chain("l1u") | {"aggregate", "report"}
    finally:
        git(repo, "checkout", "-q", "--", ".")
        dvc(repo, "checkout", "-q", "--force")
