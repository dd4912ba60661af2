"""The real pipeline in a temporary git + DVC repository, on tiny settings.

These tests run `dvc repro` and `dvc exp run` for real and inspect which stages ran (from
DVC's own output), what was written, and what MLflow recorded at the default store.
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

from ganbench.smoke import run_smoke
from pipeline_util import dvc, make_repo, stages_run

TINY_PARAMS = {
    "data": {"source": "digits", "image_size": 8, "seed": 0},
    "judge": {"epochs": 3, "width": 8},
    "sample": {"n_samples": 100, "seed": 1},
    "eval": {"backbones": ["judge"], "kid_subsets": 5, "kid_subset_size": 50, "prdc_k": 3},
    "report": {"primary_metric": "judge.fid"},
    "variants": {
        "plain": {"arch": "dcgan", "epochs": 1, "width": 8, "z_dim": 8, "lr_g": 0.0002},
        # enough to learn (judge FID ~23 against ~62 untrained) for the gate test below
        "cond": {"arch": "dcgan", "conditional": True, "epochs": 10, "width": 16, "z_dim": 8,
                 "lr_g": 0.0002, "lr_d": 0.0002},
    },
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = make_repo(tmp_path_factory.mktemp("pipeline"), TINY_PARAMS)
    result = dvc(path, "repro")
    assert stages_run(result.stdout) == {
        "prepare", "judge", "reference", "train@plain", "train@cond", "sample@plain",
        "sample@cond", "evaluate@plain", "evaluate@cond", "report"}
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "first run"], cwd=path, check=True)
    return path


def test_full_pipeline_writes_every_output(repo):
    for rel in ["data/prepared/train.npz", "data/prepared/meta.json", "models/judge",
                "models/plain/weights/generator.pt", "models/plain/train_log.tsv",
                "samples/cond/samples.npz", "samples/cond/grid.png", "reports/metrics/plain.json",
                "reports/metrics.json", "reports/summary.md", "reports/index.html"]:
        assert (repo / rel).exists(), rel
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert list(metrics) == ["plain", "cond"]
    assert metrics["plain"]["tstr"] is None and metrics["plain"]["tstr_reason"]
    assert 0 <= metrics["cond"]["tstr"]["accuracy"] <= 1
    shown = dvc(repo, "metrics", "show", "--json").stdout
    assert "fid" in shown


def test_mlflow_default_store_has_one_run_per_variant_with_tags(repo):
    db = repo / "mlflow.db"
    assert db.is_file(), "the default store is sqlite at the DVC root"
    with sqlite3.connect(db) as con:
        runs = dict(con.execute("select run_uuid, name from runs").fetchall())
        tags = con.execute("select run_uuid, key, value from tags").fetchall()
    by_run: dict[str, dict[str, str]] = {}
    for run, key, value in tags:
        by_run.setdefault(run, {})[key] = value
    variant_runs = {by_run[r].get("variant"): r for r in runs if by_run[r].get("variant")}
    assert set(variant_runs) == {"plain", "cond"}
    for run in variant_runs.values():
        for key in ("dvc_stage", "git_commit", "git_dirty", "fingerprint", "status"):
            assert key in by_run[run], key
    assert any(t.get("kind") == "comparison" for t in by_run.values())
    with sqlite3.connect(db) as con:
        keys = {k for (k,) in con.execute("select distinct key from metrics")}
    assert {"loss_d", "loss_g", "judge.fid"} <= keys


def test_nothing_reruns_when_nothing_changed(repo):
    assert stages_run(dvc(repo, "repro").stdout) == set()


def test_changing_one_variant_reruns_only_its_chain(repo):
    # DVC writes 1e-5 as `1e-05` (YAML 1.2): the stages must read that as a number too
    result = dvc(repo, "exp", "run", "-S", "variants.plain.lr_g=1e-5")
    assert stages_run(result.stdout) == {"train@plain", "sample@plain", "evaluate@plain",
                                         "report"}
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
    dvc(repo, "checkout", "-q", "--force")


def test_same_params_give_same_metrics(repo):
    """Reproducible: forcing a rerun of one variant's chain gives identical metrics."""
    before = json.loads((repo / "reports/metrics/cond.json").read_text())
    dvc(repo, "repro", "--force", "--single-item", "train@cond", "sample@cond", "evaluate@cond")
    after = json.loads((repo / "reports/metrics/cond.json").read_text())
    strip = lambda m: {k: v for k, v in m.items() if k != "train"}  # noqa: E731 (wall time)
    assert strip(after) == strip(before)


def test_smoke_runs_its_subset_in_a_copy_and_leaves_the_workspace_alone(repo, tmp_path):
    """`ganbench smoke`: smoke.yaml's only_variants, reports copied out, and not one byte of
    the workspace's lock, metrics, models or MLflow store changed."""
    watched = ["dvc.lock", "reports/metrics.json", "reports/metrics/cond.json", "mlflow.db",
               "models/cond/weights/generator.pt", "samples/plain/samples.npz"]
    digest = lambda: {p: hashlib.sha256((repo / p).read_bytes()).hexdigest()  # noqa: E731
                      for p in watched}
    status = lambda: subprocess.run(["git", "status", "--porcelain"], cwd=repo,  # noqa: E731
                                    capture_output=True, text=True, check=True).stdout
    before, changed = digest(), status()
    (repo / "smoke.yaml").write_text(yaml.safe_dump(
        {"only_variants": ["cond"], "every_variant": {"epochs": 1}}))
    try:
        assert run_smoke(repo, tmp_path / "out") == 0
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "smoke.yaml"], cwd=repo, check=True)
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert list(metrics) == ["cond"] and metrics["cond"]["train"]["epochs"] == 1
    assert (tmp_path / "out/index.html").is_file() and (tmp_path / "out/summary.md").is_file()
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
    variant cannot learn (learning rates 1e-7) fails on that variant's FID."""
    same = gate(repo, "--rev", "HEAD")
    assert same.returncode == 0, same.stdout + same.stderr
    try:
        ran = dvc(repo, "exp", "run", "-S", "variants.cond.lr_g=1e-7",
                  "-S", "variants.cond.lr_d=1e-7").stdout
        assert stages_run(ran) == {"train@cond", "sample@cond", "evaluate@cond", "report"}
        table = tmp_path / "gate.md"
        worse = gate(repo, "--rev", "HEAD", "--output", str(table))
        assert worse.returncode == 1, worse.stdout + worse.stderr
        failing = [line for line in table.read_text().splitlines()
                   if line.startswith("|") and "❌" in line]
        assert failing and all(line.startswith("| cond |") for line in failing), \
            table.read_text()
        assert any("| judge.fid |" in line for line in failing)
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
        dvc(repo, "checkout", "-q", "--force")
