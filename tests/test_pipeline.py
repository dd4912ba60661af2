"""The real pipeline in a temporary git + DVC repository, on tiny settings with two seeds.

These tests run `dvc repro` and `dvc exp run` for real and inspect which stages ran (from
DVC's own output), what was written, and what MLflow recorded at the default store. The
minimal-rerun claims (a changed variant, an added or removed seed) are checked on what ran,
never with `--dry`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ganbench import paths
from ganbench.smoke import run_smoke
from pipeline_util import dvc, git, make_repo, stages_run

pytestmark = pytest.mark.slow

TINY_PARAMS = {
    "data": {"source": "digits", "image_size": 8, "seed": 0},
    "judge": {"epochs": 3, "width": 8},
    "sample": {"n_samples": 100, "seed": 1},
    "eval": {"backbones": ["judge"], "kid_subsets": 5, "kid_subset_size": 50, "prdc_k": 3},
    "report": {"primary_metric": "judge.fid"},
    "seeds": [0, 1],
    "variants": {
        "plain": {"arch": "dcgan", "epochs": 1, "width": 8, "z_dim": 8, "lr_g": 0.0002},
        # enough to learn (judge FID ~23 against ~62 untrained) for the gate test below
        "cond": {"arch": "dcgan", "conditional": True, "epochs": 10, "width": 16, "z_dim": 8,
                 "lr_g": 0.0002, "lr_d": 0.0002},
    },
}
CHAINS = {f"{stage}@{v}-{s}" for stage in ("train", "sample", "evaluate")
          for v in ("plain", "cond") for s in (0, 1)}


def chains(*names: str) -> set[str]:
    """The stages of the named chains (``plain-0``), train, sample and evaluate."""
    return {f"{stage}@{name}" for stage in ("train", "sample", "evaluate") for name in names}


def restore(repo: Path) -> None:
    """Back to the committed params and outputs (metrics files of extra chains removed)."""
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
    subprocess.run(["git", "clean", "-fdq", "--", "reports"], cwd=repo, check=True)
    dvc(repo, "checkout", "-q", "--force")


def set_params(repo: Path, **changes) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.update(changes)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = make_repo(tmp_path_factory.mktemp("pipeline"), TINY_PARAMS)
    result = dvc(path, "repro")
    assert stages_run(result.stdout) == {"prepare", "tasks", "judge", "reference", "aggregate",
                                         "report"} | CHAINS
    git(path, "add", "-A")
    git(path, "commit", "-qm", "first run")
    return path


def test_full_pipeline_writes_every_output(repo):
    for rel in ["data/prepared/train.npz", "data/prepared/meta.json", "models/judge",
                "models/plain/seed0/weights/generator.pt", "models/plain/seed1/train_log.tsv",
                "samples/cond/seed1/samples.npz", "samples/cond/seed0/grid.png",
                "reports/metrics/plain/seed0.json", "reports/metrics/cond/seed1.json",
                "reports/metrics.json", "reports/comparisons.json", "reports/summary.md",
                "reports/index.html"]:
        assert (repo / rel).exists(), rel
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert list(metrics) == ["plain", "cond"]
    assert metrics["plain"]["seeds"] == [0, 1] and metrics["plain"]["interval"]["method"] == \
        "student-t"
    fid = metrics["cond"]["metrics"]["judge.fid"]
    assert fid["n"] == 2 and len(fid["values"]) == 2
    assert fid["ci_low"] <= fid["mean"] <= fid["ci_high"] and fid["eval_std"] >= 0
    assert metrics["plain"]["metrics"]["tstr_accuracy"]["values"] == [None, None]
    assert all(0 <= v <= 1 for v in metrics["cond"]["metrics"]["tstr_accuracy"]["values"])
    summary = (repo / "reports/summary.md").read_text()
    assert "over 2 training seeds" in summary and "**In words.**" in summary
    assert "with uncommitted changes" not in summary  # the outputs are not the user's edits
    shown = dvc(repo, "metrics", "show", "--json").stdout
    assert "judge.fid" in shown


def test_mlflow_runs_per_seed_grouped_under_a_parent_per_variant(repo):
    db = repo / "mlflow.db"
    assert db.is_file(), "the default store is sqlite at the DVC root"
    with sqlite3.connect(db) as con:
        runs = dict(con.execute("select run_uuid, status from runs").fetchall())
        tags = con.execute("select run_uuid, key, value from tags").fetchall()
        keys = {k for (k,) in con.execute("select distinct key from metrics")}
    by_run: dict[str, dict[str, str]] = {}
    for run, key, value in tags:
        by_run.setdefault(run, {})[key] = value
    seed_runs = {(t["variant"], t["seed"]): r for r, t in by_run.items() if "seed" in t}
    assert set(seed_runs) == {("plain", "0"), ("plain", "1"), ("cond", "0"), ("cond", "1")}
    parents = {t["variant"]: r for r, t in by_run.items() if t.get("kind") == "variant"}
    assert set(parents) == {"plain", "cond"}
    for (variant, _), run in seed_runs.items():
        assert runs[run] == "FINISHED"
        assert by_run[run]["mlflow.parentRunId"] == parents[variant]
        for key in ("dvc_stage", "git_commit", "git_dirty", "fingerprint", "status"):
            assert key in by_run[run], key
    assert any(t.get("kind") == "comparison" for t in by_run.values())
    assert {"loss_d", "loss_g", "judge.fid", "judge.fid.eval_std", "judge.fid.mean",
            "judge.fid.ci_low"} <= keys


def test_nothing_reruns_when_nothing_changed(repo):
    assert stages_run(dvc(repo, "repro").stdout) == set()


def test_changing_one_variant_reruns_only_its_chains(repo):
    # DVC writes 1e-5 as `1e-05` (YAML 1.2): the stages must read that as a number too
    result = dvc(repo, "exp", "run", "-S", "variants.plain.lr_g=1e-5")
    assert stages_run(result.stdout) == chains("plain-0", "plain-1") | {"aggregate", "report"}
    restore(repo)


def test_adding_a_seed_runs_only_its_chains_removing_reruns_only_the_aggregate(repo, tmp_path):
    """Seeds [0, 1] -> [0, 1, 2] runs only the chains of seed 2 and the aggregate and report;
    -> [1, 2] then only the aggregate and report. The gate passes that rerun of the same
    params with other seeds (seed noise only) against the committed [0, 1]."""
    try:
        set_params(repo, seeds=[0, 1, 2])
        added = dvc(repo, "repro").stdout
        assert stages_run(added) == chains("plain-2", "cond-2") | {"aggregate", "report"}
        metrics = json.loads((repo / "reports/metrics.json").read_text())
        assert metrics["cond"]["seeds"] == [0, 1, 2]
        assert metrics["cond"]["metrics"]["judge.fid"]["n"] == 3
        set_params(repo, seeds=[1, 2])
        removed = dvc(repo, "repro").stdout
        assert stages_run(removed) == {"aggregate", "report"}
        metrics = json.loads((repo / "reports/metrics.json").read_text())
        assert metrics["cond"]["seeds"] == [1, 2]
        noise = gate(repo, "--rev", "HEAD", "--output", str(tmp_path / "gate.md"))
        assert noise.returncode == 0, noise.stdout + noise.stderr
    finally:
        restore(repo)


def test_same_params_give_byte_identical_outputs(repo):
    """Reproducible: forcing a rerun of one chain gives byte-identical DVC outputs (weights,
    samples, metrics), so dvc.lock does not change; no timing or run id is in them."""
    watched = [paths.weights_dir("cond", 0) / "generator.pt",
               paths.weights_dir("cond", 0) / "model.json",
               paths.samples_dir("cond", 0) / "samples.npz",
               paths.samples_dir("cond", 0) / "grid.png",
               paths.seed_metrics("cond", 0), paths.AGGREGATE_FILE, Path("dvc.lock")]

    def digest():
        return {str(p): hashlib.sha256((repo / p).read_bytes()).hexdigest() for p in watched}
    before = digest()
    dvc(repo, "repro", "--force", "--single-item", "train@cond-0", "sample@cond-0",
        "evaluate@cond-0", "aggregate")
    assert digest() == before
    assert "seconds" not in (repo / paths.weights_dir("cond", 0) / "model.json").read_text()
    assert git(repo, "status", "--porcelain") == ""


def test_a_profile_runs_the_rest_of_the_family_in_a_copy_and_leaves_the_workspace_alone(
        repo, tmp_path):
    """`ganbench smoke --profile`: a profile adds the lectures' other families by preset
    (ssgan, progan, stylegan, sngan), keeps its only_variants, and every one gets metrics,
    with the mode diagnostics, and ssgan its accuracy beside the supervised baseline; the
    reports are copied out, and not one byte of the workspace's lock, metrics, models or
    MLflow store changed."""
    watched = ["dvc.lock", "reports/metrics.json", "reports/metrics/cond/seed0.json",
               "mlflow.db", "models/cond/seed0/weights/generator.pt",
               "samples/plain/seed0/samples.npz"]
    digest = lambda: {p: hashlib.sha256((repo / p).read_bytes()).hexdigest()  # noqa: E731
                      for p in watched}
    status = lambda: git(repo, "status", "--porcelain")  # noqa: E731
    before, changed = digest(), status()
    family = ["sngan", "ssgan", "progan", "stylegan"]
    (repo / "family.yaml").write_text(yaml.safe_dump(
        {"only_variants": family, "seeds": [0],
         "variants": {name: {"preset": name} for name in family},
         "every_variant": {"epochs": 1, "width": 8, "batch_size": 32}}))
    try:
        assert run_smoke(repo, tmp_path / "out", profile="family.yaml") == 0
    finally:
        (repo / "family.yaml").unlink()
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert sorted(metrics) == sorted(family) and metrics["ssgan"]["seeds"] == [0]
    for name in family:
        assert metrics[name]["metrics"]["judge.fid"]["n"] == 1, name
        assert 1 <= metrics[name]["metrics"]["modes_covered"]["mean"] <= 10, name
        assert metrics[name]["metrics"]["mode_kl"]["mean"] >= 0, name
    ssl = metrics["ssgan"]["metrics"]
    for key in ("ssl_accuracy", "ssl_baseline_accuracy", "ssl_gain"):
        assert ssl[key]["n"] == 1, key
    assert ssl["ssl_gain"]["mean"] == pytest.approx(
        ssl["ssl_accuracy"]["mean"] - ssl["ssl_baseline_accuracy"]["mean"])
    assert "ssl_accuracy" not in metrics["sngan"]["metrics"]
    summary = (tmp_path / "out/summary.md").read_text()
    assert "SSL acc" in summary and "modes" in summary
    assert (tmp_path / "out/index.html").is_file()
    assert digest() == before
    assert status() == changed


def test_bad_source_fails_before_any_work(tmp_path):
    params = json.loads(json.dumps(TINY_PARAMS))
    params["data"]["source"] = "nope"
    path = make_repo(tmp_path / "bad", params)
    result = dvc(path, "repro", check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "data.source" in message and "'nope'" in message
    assert "mnist5k, digits, mnist, fashion_mnist, cifar10, folder" in message
    assert not (path / "data/prepared").exists()
    assert "Running stage 'judge'" not in message


def gate(repo: Path, *args: str) -> subprocess.CompletedProcess:
    ganbench = str(Path(sys.executable).with_name("ganbench"))
    return subprocess.run([ganbench, "gate", *args], cwd=repo, capture_output=True, text=True)


def test_ci_gate_passes_a_rerun_and_rejects_a_learning_rate_that_cannot_learn(repo, tmp_path):
    """The CI flow on a real pipeline: the baseline is the committed metrics.json, read at a
    git revision through DVC; the same params pass, and an experiment whose conditional
    variant cannot learn (learning rates 1e-7) fails on that variant's FID, significantly
    over its two seeds."""
    same = gate(repo, "--rev", "HEAD")
    assert same.returncode == 0, same.stdout + same.stderr
    try:
        ran = dvc(repo, "exp", "run", "-S", "variants.cond.lr_g=1e-7",
                  "-S", "variants.cond.lr_d=1e-7").stdout
        assert stages_run(ran) == chains("cond-0", "cond-1") | {"aggregate", "report"}
        table = tmp_path / "gate.md"
        worse = gate(repo, "--rev", "HEAD", "--output", str(table))
        assert worse.returncode == 1, worse.stdout + worse.stderr
        failing = [line for line in table.read_text().splitlines()
                   if line.startswith("|") and "❌" in line]
        assert failing and all(line.startswith("| cond |") for line in failing), \
            table.read_text()
        assert any("| judge.fid |" in line for line in failing)
    finally:
        restore(repo)
