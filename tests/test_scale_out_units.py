"""The pieces of scaling out that need no cluster: shared checkpoints across hosts, the
checkpoint folder setting, the chains of `dvc status`, and what the tracking preflight says
about logins."""

from __future__ import annotations

import os
import socket
import time

import pytest

from ganbench import checkpoint, tracking
from ganbench.checkpoint import OWNER_FILE, checkpoint_dir, claim, prune_checkpoints, read_owner
from ganbench.distribute import chain_of_stage, stale_chains
from ganbench.errors import InputError, TrackingError


def folder_with(cache, chain: str, fingerprint: str, owner: str | None, age: float = 0.0):
    folder = cache / chain / fingerprint
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"x")
    if owner is not None:
        (folder / OWNER_FILE).write_text(owner)
    then = time.time() - age
    for path in folder.iterdir():
        os.utime(path, (then, then))
    return folder


def test_the_owner_file_names_pid_and_host_and_old_files_still_read(tmp_path):
    ckpt = tmp_path / "v-seed0" / "fp" / "checkpoint.pt"
    claim(ckpt)
    assert read_owner(ckpt.parent) == (os.getpid(), socket.gethostname())
    (ckpt.parent / OWNER_FILE).write_text("123\n")  # before hosts were recorded
    assert read_owner(ckpt.parent) == (123, None)
    (ckpt.parent / OWNER_FILE).write_text("garbage")
    assert read_owner(ckpt.parent) is None


def test_a_pid_from_another_host_is_judged_by_the_folders_last_write(tmp_path):
    """In a shared checkpoint folder a pid means nothing on this host: this process's own pid
    written by another host neither keeps a dead worker's superseded checkpoint nor lets one
    that a live worker elsewhere still writes be removed; silence decides."""
    cache = tmp_path / "checkpoints"
    mine = os.getpid()  # alive here: it must not count for another host
    silence = checkpoint.FOREIGN_OWNER_SILENCE
    dead_elsewhere = folder_with(cache, "v-seed0", "old-a", f"{mine} other-host",
                                 age=silence + 60)
    busy_elsewhere = folder_with(cache, "v-seed0", "old-b", "999999999 other-host", age=5)
    dead_here = folder_with(cache, "v-seed0", "old-c", f"999999999 {socket.gethostname()}")
    live_here = folder_with(cache, "v-seed0", "old-d", f"{mine} {socket.gethostname()}")
    current = folder_with(cache, "v-seed0", "current", f"{mine} other-host", age=silence + 60)
    removed = prune_checkpoints(cache, "v-seed0", keep="current")
    assert sorted(p.name for p in removed) == ["old-a", "old-c"]
    assert not dead_elsewhere.exists() and not dead_here.exists()
    assert busy_elsewhere.is_dir() and live_here.is_dir()
    assert current.is_dir()  # a dead worker's checkpoint of the current params: resumable


def test_the_checkpoint_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(checkpoint.CHECKPOINT_DIR_ENV, raising=False)
    assert checkpoint_dir(tmp_path) == tmp_path / ".ganbench-cache" / "checkpoints"
    monkeypatch.setenv(checkpoint.CHECKPOINT_DIR_ENV, str(tmp_path / "shared"))
    assert checkpoint_dir(tmp_path / "elsewhere") == tmp_path / "shared"
    monkeypatch.setenv(checkpoint.CHECKPOINT_DIR_ENV, "relative/dir")
    with pytest.raises(InputError, match="GANBENCH_CHECKPOINT_DIR='relative/dir': must be an "
                                         "absolute path"):
        checkpoint_dir(tmp_path)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(checkpoint.CHECKPOINT_DIR_ENV, str(tmp_path / "file"))
    with pytest.raises(InputError, match="exists and is not a folder"):
        checkpoint_dir(tmp_path)


def test_chains_come_from_the_stage_names_of_dvc_status():
    assert chain_of_stage("train@my-gan-3") == ("train", "my-gan-3")
    assert chain_of_stage("dvc.yaml:evaluate@cgan-0") == ("evaluate", "cgan-0")
    assert chain_of_stage("aggregate") is None and chain_of_stage("judge") is None
    status = {"source": ["always changed"], "train@b-1": [{"changed deps": {}}],
              "sample@a-0": [], "evaluate@b-1": [], "report": []}
    assert stale_chains(status) == ["b-1", "a-0"]


def test_preflight_says_which_half_of_a_login_is_missing(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    with pytest.raises(TrackingError, match="MLflow tracking server http://127.0.0.1:9: "
                                            "MLFLOW_TRACKING_USERNAME is set but "
                                            "MLFLOW_TRACKING_PASSWORD is not"):
        tracking.preflight("http://127.0.0.1:9")
