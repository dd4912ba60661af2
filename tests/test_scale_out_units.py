"""The pieces of scaling out that need no cluster: shared checkpoints across hosts, the
checkpoint folder setting and fingerprint, the chains of `dvc status`, what the tracking
preflight says about logins, the distribute records and its Ray address check."""

from __future__ import annotations

import argparse
import json
import os
import socket
import time

import numpy as np
import pytest

from ganbench import checkpoint, tracking
from ganbench.checkpoint import OWNER_FILE, checkpoint_dir, claim, prune_checkpoints, read_owner
from ganbench.distribute import (RECORD_DIR, Coordinator, chain_of_stage, connect_ray,
                                 stale_chains)
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


def test_a_translators_checkpoints_are_keyed_by_its_source_domain_too():
    """An unpaired task's source images lie outside data/prepared: a new domain A must not
    resume the old one's checkpoint. A generator's key is unchanged (no source)."""
    settings, prepared = {"epochs": 3}, {"train_images": "ab12"}
    generator = checkpoint.training_fingerprint(settings, 0, prepared)
    assert generator == tracking.fingerprint(settings, 0, prepared)
    source = np.zeros((4, 1, 8, 8), np.uint8)
    first = checkpoint.training_fingerprint(settings, 0, prepared, source)
    other = source.copy()
    other[0, 0, 0, 0] = 1
    assert first not in (generator, checkpoint.training_fingerprint(settings, 0, prepared, other))
    assert first == checkpoint.training_fingerprint(settings, 0, prepared, source.copy())


def test_a_second_invocation_keeps_the_first_ones_attempts_and_logs(tmp_path):
    """Rerunning `ganbench distribute` after failures is the documented recovery; it must not
    overwrite the failed attempts' records."""
    args = argparse.Namespace()
    result = {"chain": "cgan-0", "attempt": 1, "ok": False, "log": "first failure\n"}
    first = Coordinator(tmp_path, args)
    first.record(dict(result))
    second = Coordinator(tmp_path, args)
    second.record({**result, "ok": True, "log": "second run\n"})
    records = json.loads((tmp_path / RECORD_DIR / "attempts.json").read_text())
    assert [(r["invocation"], r["ok"]) for r in records] == [(1, False), (2, True)]
    logs = [(tmp_path / r["log_file"]).read_text() for r in records]
    assert logs == ["first failure\n", "second run\n"]
    (tmp_path / RECORD_DIR / "attempts.json").write_text("{not json")
    assert Coordinator(tmp_path, args).invocation == 1  # unreadable records: start afresh


def test_a_ray_address_that_nobody_answers_is_refused_at_once():
    """ray.init waits minutes on a dead address; the check answers in well under a second
    and names the address and what to do."""
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(InputError, match=rf"--address {address}: no Ray cluster answers "
                                             rf"there .*ray start --head --port {port}"):
            connect_ray(None, address)
    with pytest.raises(InputError, match="expected host:port"):
        connect_ray(None, "head-node-without-port")
