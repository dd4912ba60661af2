"""MLflow store resolution and run bookkeeping, against a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import mlflow

from ganbench import tracking
from ganbench.io import read_json
from ganbench.tracking_buffer import MetricBuffer


def test_default_store_is_absolute_sqlite_at_dvc_root(tmp_path, monkeypatch):
    (tmp_path / ".dvc").mkdir()
    nested = tmp_path / "stages"
    nested.mkdir()
    monkeypatch.chdir(nested)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_dvc_root_wins_inside_queued_experiment_workspaces(tmp_path, monkeypatch):
    """`dvc exp run --queue` runs in a temp copy but sets DVC_ROOT to the user's repo."""
    workspace = tmp_path / "tmp-exp"
    (workspace / ".dvc").mkdir(parents=True)
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "user-repo"))
    assert tracking.tracking_uri() == f"sqlite:///{(tmp_path / 'user-repo').resolve()}/mlflow.db"


def test_env_override_for_team_server(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri() == "http://mlflow.example:5000"


def test_variant_run_is_created_reopened_and_tagged(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "t")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    run_file = tmp_path / "weights" / tracking.RUN_FILE
    stamp = tracking.fingerprint({"lr_g": 0.1}, {"train": "abc"})
    with tracking.start_variant_run("dcgan", "train@dcgan", stamp, {"lr_g": 0.1, "betas": [0.5, 0.9]},
                                    run_file) as run:
        buffer = MetricBuffer(run.info.run_id, size=3)
        for step in range(5):
            buffer.add({"loss_d": 1.0 / (step + 1), "loss_g": float("nan")}, step)
        buffer.flush()
    with tracking.resume_variant_run(tmp_path / "weights", stage="evaluate"):
        mlflow.log_metric("judge.fid", 12.5)
    run_id = read_json(run_file)["run_id"]
    data = mlflow.get_run(run_id).data
    assert data.params["lr_g"] == "0.1"
    assert data.metrics["judge.fid"] == 12.5
    assert {"variant", "dvc_stage", "fingerprint", "git_commit", "git_dirty"} <= set(data.tags)
    assert data.tags["dvc_experiment"] == "exp-1" and data.tags["fingerprint"] == stamp
    history = mlflow.tracking.MlflowClient().get_metric_history(run_id, "loss_d")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert "loss_g" not in data.metrics  # non-finite values are not logged


def test_fingerprint_is_stable_and_sensitive():
    assert tracking.fingerprint({"a": 1, "b": 2}) == tracking.fingerprint({"b": 2, "a": 1})
    assert tracking.fingerprint({"a": 1}) != tracking.fingerprint({"a": 2})
