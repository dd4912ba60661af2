"""MLflow store resolution, the preflight check and run bookkeeping, against real stores
(SQLite files, and a real loopback HTTP socket for the down-server cases)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from ganbench import tracking
from ganbench.errors import TrackingError
from ganbench.io import read_json
from ganbench.tracking_buffer import MetricBuffer


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite store and experiment; the working directory is a DVC workspace."""
    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "t")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    return tmp_path


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


def test_variant_run_is_created_reopened_and_tagged(store, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    stamp = tracking.fingerprint({"lr_g": 0.1}, {"train": "abc"})
    with tracking.start_variant_run("dcgan", 2, "train@dcgan-2", stamp,
                                    {"lr_g": 0.1, "betas": [0.5, 0.9]}) as log:
        buffer = MetricBuffer(log, size=3)
        for step in range(5):
            buffer.add({"loss_d": 1.0 / (step + 1), "loss_g": float("nan")}, step)
        buffer.flush()
    side = read_json(tracking.runs_file("dcgan", 2))
    assert side["fingerprint"] == stamp and side["run_id"] == log.run_id
    assert tracking.find_variant_run("dcgan", 2, stamp) == log.run_id
    tracking.group_variant_runs("dcgan", {}, {2: (stamp, {"judge.fid": 12.5}, {})}, {})
    run = mlflow.get_run(log.run_id)
    data = run.data
    assert run.info.status == "FINISHED"
    assert data.params["lr_g"] == "0.1" and data.params["seed"] == "2"
    assert data.tags["seed"] == "2" and run.info.run_name == "dcgan seed 2"
    assert data.metrics["judge.fid"] == 12.5
    assert {"variant", "dvc_stage", "fingerprint", "git_commit", "git_dirty",
            "ganbench.host", "ganbench.pid"} <= set(data.tags)
    assert data.tags["dvc_experiment"] == "exp-1" and data.tags["fingerprint"] == stamp
    history = mlflow.tracking.MlflowClient().get_metric_history(log.run_id, "loss_d")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert "loss_g" not in data.metrics  # non-finite values are not logged


def test_a_run_is_found_by_its_tags_without_the_side_file(store):
    """Weights restored from DVC's run cache have no side file of this workspace: the run is
    found by its fingerprint and seed tags (a run tagged `restored` is made otherwise, see
    the grouping test)."""
    with tracking.start_variant_run("v", 0, "train@v-0", "a" * 16, {}) as log:
        pass
    tracking.runs_file("v", 0).unlink()
    assert tracking.find_variant_run("v", 0, "a" * 16) == log.run_id
    assert tracking.find_variant_run("v", 0, "b" * 16) is None
    assert tracking.find_variant_run("v", 1, "a" * 16) is None  # another seed's run


def test_fingerprint_is_stable_and_sensitive():
    assert tracking.fingerprint({"a": 1, "b": 2}) == tracking.fingerprint({"b": 2, "a": 1})
    assert tracking.fingerprint({"a": 1}) != tracking.fingerprint({"a": 2})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_preflight_refuses_a_server_that_is_down_at_once(monkeypatch):
    uri = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    start = time.monotonic()
    with pytest.raises(TrackingError) as err:
        tracking.preflight()
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert uri in message and "not reachable" in message and "MLFLOW_TRACKING_URI" in message
    assert "\n" not in message


def test_preflight_gives_up_on_a_silent_server_within_the_budget(monkeypatch):
    """A socket that accepts and never answers (a hung server): the budget bounds the wait."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv(tracking.TIMEOUT_ENV, "1.5")
        start = time.monotonic()
        with pytest.raises(TrackingError, match=r"no answer within 1.5 s"):
            tracking.preflight()
        assert time.monotonic() - start < 5
    monkeypatch.setenv(tracking.TIMEOUT_ENV, "soon")
    with pytest.raises(TrackingError, match="GANBENCH_TRACKING_TIMEOUT='soon'"):
        tracking.timeout_budget()


def test_preflight_cuts_mlflows_own_retries_unless_set(monkeypatch):
    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")  # the user's own choice stays
    tracking.limit_mlflow_retries()
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("make, expected", [
    (lambda p: _file(p / "f", "x") / "mlflow.db", "is not a folder"),
    (lambda p: p / "missing" / "mlflow.db", "does not exist"),
    (lambda p: _file(p / "x.db", "not sqlite"), "is not a SQLite database"),
])
def test_preflight_refuses_an_unusable_sqlite_store(tmp_path, monkeypatch, make, expected):
    uri = f"sqlite:///{make(tmp_path)}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(TrackingError, match=expected):
        tracking.preflight()


def test_a_store_that_fails_mid_run_loses_nothing_and_fails_the_run(store):
    """The store disappears while a run is open (here its file is replaced by a folder):
    logging stops with one warning, the work goes on, and the run is not FINISHED."""
    with tracking.start_variant_run("v", 0, "train@v-0", "c" * 16, {}) as log:
        buffer = MetricBuffer(log, size=2)
        buffer.add({"loss_d": 1.0, "loss_g": 2.0}, 1)  # flushed: the store works
        db = store / "mlflow.db"
        db.rename(store / "moved.db")
        db.mkdir()
        buffer.add({"loss_d": 1.0, "loss_g": 2.0}, 2)
        buffer.add({"loss_d": 1.0, "loss_g": 2.0}, 3)  # skipped, counted
        assert log.failed and "2 per-step training values" in log.skipped
        db.rmdir()
        (store / "moved.db").rename(db)
    assert mlflow.get_run(log.run_id).info.status in ("FAILED", "RUNNING")
    assert mlflow.get_run(log.run_id).info.status != "FINISHED"


def test_a_run_left_running_by_a_killed_process_is_marked_killed(store):
    code = ("import os, sys; from ganbench import tracking\n"
            "with tracking.start_variant_run('v', 0, 'train@v-0', 'd' * 16, {}) as log:\n"
            "    print(log.run_id, flush=True); os._exit(9)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", code], cwd=store, capture_output=True,
                          text=True, env=env)
    orphan = done.stdout.strip()
    assert mlflow.get_run(orphan).info.status == "RUNNING"
    with tracking.start_variant_run("v", 0, "train@v-0", "d" * 16, {}):
        pass
    run = mlflow.get_run(orphan)
    assert run.info.status == "KILLED" and "killed" in run.data.tags["ganbench.end"]


def test_interrupted_run_ends_killed(store):
    with contextlib.suppress(KeyboardInterrupt):
        with tracking.start_variant_run("v", 0, "train@v-0", "e" * 16, {}) as log:
            raise KeyboardInterrupt
    assert mlflow.get_run(log.run_id).info.status == "KILLED"


def test_seed_runs_are_grouped_under_a_parent_holding_the_aggregate(store):
    """Each seed has its run; group_variant_runs gives each its metrics and tags and makes
    them children of one parent per variant (found again on a later call, not duplicated)
    that holds the aggregate. A chain with no run (outputs pulled from elsewhere) gets one
    tagged restored; a metric already held is not logged twice."""
    stamps = {0: "f0" * 8, 1: "f1" * 8}
    runs = {}
    for seed, stamp in stamps.items():
        with tracking.start_variant_run("v", seed, f"train@v-{seed}", stamp, {}) as log:
            runs[seed] = log.run_id
    children = {seed: (stamp, {"judge.fid": 10.0 + seed}, {"judge.version": "j1"})
                for seed, stamp in stamps.items()}
    children[2] = ("f2" * 8, {"judge.fid": 12.0}, {})
    parent = tracking.group_variant_runs("v", {"lr_g": 0.1}, children,
                                         {"judge.fid.mean": 3.0}, "data-a")
    for seed, run_id in runs.items():
        run = mlflow.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.metrics["judge.fid"] == 10.0 + seed
        assert run.data.tags["judge.version"] == "j1"
    restored = tracking.find_variant_run("v", 2, "f2" * 8)
    assert restored and mlflow.get_run(restored).data.tags["restored"] == "true"
    summary = mlflow.get_run(parent)
    assert summary.data.metrics["judge.fid.mean"] == 3.0 and summary.data.tags["kind"] == "variant"
    assert summary.data.tags["seeds"] == "0,1,2" and summary.data.params["lr_g"] == "0.1"
    again = tracking.group_variant_runs("v", {"lr_g": 0.1}, children, {"judge.fid.mean": 2.0},
                                        "data-a")
    assert again == parent and mlflow.get_run(parent).data.metrics["judge.fid.mean"] == 2.0
    history = mlflow.tracking.MlflowClient().get_metric_history(runs[0], "judge.fid")
    assert len(history) == 1  # the same value again is not logged twice
    other = tracking.group_variant_runs("v", {"lr_g": 0.2}, {}, {}, "data-a")
    assert other != parent  # other settings: another parent


def test_git_state_names_the_code_commit_and_ignores_the_pipelines_outputs(tmp_path):
    """Committing a run's results does not change the commit the results name, and the
    pipeline's own outputs do not count as uncommitted edits (a fresh clone after
    `make run` is clean); an edit to the code does."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True, env={**os.environ, "GIT_AUTHOR_NAME": "t",
                                              "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                                              "GIT_COMMITTER_EMAIL": "t@x"}).stdout.strip()
    git("init", "-q")
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "dvc.yaml").write_text((root / "dvc.yaml").read_text())
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "-A")
    git("commit", "-qm", "code")
    code = git("rev-parse", "HEAD")
    (tmp_path / "reports" / "metrics").mkdir(parents=True)
    (tmp_path / "reports" / "metrics.json").write_text("{}")
    (tmp_path / "reports" / "metrics" / "a").mkdir()
    (tmp_path / "reports" / "metrics" / "a" / "seed0.json").write_text("{}")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    git("add", "-A")
    git("commit", "-qm", "results")
    assert tracking.git_state(tmp_path) == {"git_commit": code, "git_dirty": "false"}
    (tmp_path / "reports" / "metrics.json").write_text('{"a": 1}')
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    assert tracking.git_state(tmp_path)["git_dirty"] == "false"  # the pipeline's own
    (tmp_path / "code.py").write_text("x = 2\n")
    assert tracking.git_state(tmp_path)["git_dirty"] == "true"
