"""Faults, tried on the real thing: a tiny pipeline in a temporary git + DVC repository.

Hostile variant names, a process killed (SIGKILL, SIGTERM, Ctrl-C) in the middle of training,
a tracking server that is down, raw data that changed under the pipeline, and experiments
run side by side from DVC's queue. Each test checks what a user would see (one line, the exit
code), what is left on disk (no debris, nothing tracked damaged) and what MLflow recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline_util import BIN, DVC, clean_env, dvc, git, make_repo, stages_run
from ganbench.config import SAFE_NAME_PATTERN

pytestmark = pytest.mark.slow

PARAMS = {
    "data": {"source": "digits", "image_size": 8},
    "judge": {"epochs": 1, "width": 8},
    "sample": {"n_samples": 50, "seed": 1},
    "eval": {"backbones": ["judge"], "kid_subsets": 2, "kid_subset_size": 20, "prdc_k": 3},
    "report": {},
    "seeds": [0],
    "variants": {
        # long enough (350 steps, a few seconds) to be stopped after its first checkpoint
        "slow": {"arch": "dcgan", "epochs": 8, "width": 8, "z_dim": 8, "batch_size": 32},
        "quick": {"arch": "dcgan", "epochs": 1, "width": 8, "z_dim": 8, "lr_g": 0.0002},
    },
}
EVIL_NAMES = ["x;touch pwned;echo", "v>Makefile", "x';touch pwned;echo '", "$(touch pwned)",
              "`touch pwned`", "..", "my gan", "<script>"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The fault repository, its data prepared (the training tests run train@slow-0 alone)."""
    path = make_repo(tmp_path_factory.mktemp("faults"), PARAMS)
    dvc(path, "repro", "prepare")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "prepared")
    return path


@pytest.fixture(scope="module")
def reference_weights(repo) -> bytes:
    """slow's generator after an uninterrupted run (later runs use --force: a killed one
    leaves these outputs in place, and the resumed one must write the same bytes)."""
    dvc(repo, "repro", "train@slow-0")
    return (repo / "models/slow/seed0/weights/generator.pt").read_bytes()


def runs(repo: Path, variant: str) -> list[tuple[str, str]]:
    """(run id, status) of the variant's runs in the repo's own MLflow store, oldest first."""
    with sqlite3.connect(repo / "mlflow.db") as con:
        return con.execute(
            "select r.run_uuid, r.status from runs r join tags t on t.run_uuid = r.run_uuid "
            "where t.key = 'variant' and t.value = ? order by r.start_time", (variant,)).fetchall()


def checkpoint_folder(repo: Path, variant: str) -> Path:
    return repo / ".ganbench-cache" / "checkpoints" / f"{variant}-seed0"


def default_sigint() -> None:
    """A test runner started in the background (`make test &`, nohup, some CI shells) inherits an
    ignored SIGINT, and Python then leaves Ctrl-C ignored too; restore the terminal default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_after_first_checkpoint(repo: Path, sig: int) -> subprocess.CompletedProcess:
    """`dvc repro --force --single-item train@slow-0`; once the first checkpoint is on disk, send ``sig`` to
    the training process (its pid is the checkpoint's owner.pid). Returns dvc's result."""
    proc = subprocess.Popen([DVC, "repro", "--force", "--single-item", "train@slow-0"], cwd=repo,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    owner = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(checkpoint_folder(repo, "slow").glob("*/checkpoint.pt"))
        if found and (found[0].parent / "owner.pid").is_file():
            owner = int((found[0].parent / "owner.pid").read_text().split()[0])  # "<pid> <host>"
            break
        time.sleep(0.01)
    assert owner is not None, "training ended before its first checkpoint"
    os.kill(owner, sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_no_debris(repo: Path) -> None:
    assert not list(repo.glob("models/**/.weights*")), "temp folders beside the outputs"
    scratch = repo / ".ganbench-cache" / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir()), list(scratch.iterdir())
    changed = {line[3:] for line in git(repo, "status", "--porcelain").splitlines()}
    assert changed <= {"dvc.lock"}, changed


# --------------------------------------------------------------------------- names


def test_hostile_variant_names_never_reach_a_shell(repo):
    """`make run` stops at ganbench's check with its message; `dvc repro` run directly stops
    at the first stage with the same message; nothing runs, no tracked file changes."""
    original = (repo / "params.yaml").read_text()
    makefile = (repo / "Makefile").read_bytes()
    venv = BIN.parent
    try:
        for name in EVIL_NAMES:
            text = original.replace("  quick:", f"  {json.dumps(name)}:")
            (repo / "params.yaml").write_text(text)
            made = subprocess.run(["make", "--no-print-directory", "run", f"VENV={venv}",
                                   "-o", f"{venv}/.installed", "-o", f"{venv}/bin/python"],
                                  cwd=repo, env=clean_env(), capture_output=True, text=True)
            assert made.returncode != 0, name
            assert f"ganbench check-params: error: variants: the variant name {name!r} is not " \
                   f"allowed: a name must match {SAFE_NAME_PATTERN}" in made.stderr, made.stderr
            assert "dvc repro" not in made.stdout  # stopped before DVC
            direct = dvc(repo, "repro", check=False)
            assert direct.returncode != 0, name
            if name != "..":  # DVC itself refuses to parse this one, before any stage
                assert f"variant name {name!r} is not allowed" in direct.stderr, direct.stderr
            assert not (repo / "pwned").exists(), name
            assert (repo / "Makefile").read_bytes() == makefile, name
            status = git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
            assert [line for line in status if "params.yaml" not in
                    line and ".ganbench-cache" not in line] == [], (name, status)
    finally:
        (repo / "params.yaml").write_text(original)


# --------------------------------------------------------------------------- interruptions


def test_kill_9_mid_training_resumes_to_identical_weights(repo, reference_weights):
    killed = interrupt_after_first_checkpoint(repo, signal.SIGKILL)
    assert killed.returncode != 0
    assert len(list(checkpoint_folder(repo, "slow").glob("*/checkpoint.pt"))) == 1
    orphan = runs(repo, "slow")[-1]
    assert orphan[1] == "RUNNING"  # nobody could end it
    resumed = dvc(repo, "repro", "--force", "--single-item", "train@slow-0")
    assert stages_run(resumed.stdout) == {"train@slow-0"}
    assert "slow-seed0: resuming from the checkpoint at step" in resumed.stderr
    assert (repo / "models/slow/seed0/weights/generator.pt").read_bytes() == reference_weights
    statuses = dict(runs(repo, "slow"))
    assert statuses[orphan[0]] == "KILLED" and "RUNNING" not in statuses.values()
    assert not checkpoint_folder(repo, "slow").exists()  # removed after the finished run
    assert_no_debris(repo)


@pytest.mark.parametrize("sig, code, what", [(signal.SIGTERM, 143, "SIGTERM"),
                                             (signal.SIGINT, 130, "Ctrl-C")])
def test_sigterm_and_ctrl_c_end_cleanly_and_resume(repo, reference_weights, sig, code, what):
    stopped = interrupt_after_first_checkpoint(repo, sig)
    assert stopped.returncode != 0
    ours = [line for line in stopped.stderr.splitlines() if line.startswith("ganbench ")]
    assert ours == [f"ganbench train: interrupted ({what}); its outputs were left as they "
                    "were, and `dvc repro` starts it again (training resumes from its last "
                    "checkpoint)"], stopped.stderr
    assert "Traceback" not in stopped.stderr and "KeyboardInterrupt" not in stopped.stderr
    assert runs(repo, "slow")[-1][1] == "KILLED"
    assert list(checkpoint_folder(repo, "slow").glob("*/checkpoint.pt"))
    assert_no_debris(repo)
    if sig == signal.SIGTERM:  # resuming is the same after either signal: checked once
        resumed = dvc(repo, "repro", "--force", "--single-item", "train@slow-0")
        assert "resuming from the checkpoint" in resumed.stderr
        assert (repo / "models/slow/seed0/weights/generator.pt").read_bytes() == \
            reference_weights


# --------------------------------------------------------------------------- tracking


def test_unreachable_tracking_server_fails_fast_in_one_line(repo):
    uri = "http://127.0.0.1:9"
    start = time.monotonic()
    result = dvc(repo, "repro", check=False, MLFLOW_TRACKING_URI=uri)
    elapsed = time.monotonic() - start
    assert result.returncode != 0 and elapsed < 30, elapsed
    ours = [line for line in result.stderr.splitlines() if line.startswith("ganbench ")]
    assert len(ours) == 1 and uri in ours[0] and "not reachable" in ours[0], result.stderr
    assert "Traceback" not in result.stderr
    assert stages_run(result.stdout) == set()  # the first stage stopped the pipeline


def test_store_lost_mid_training_keeps_the_outputs_and_fails_the_run(repo, tmp_path):
    """The SQLite store vanishes (its file replaced by a folder) after the first checkpoint:
    training finishes, its weights and log are written and committed by DVC, one warning
    says what was not logged, and the run is not FINISHED."""
    shutil.rmtree(checkpoint_folder(repo, "slow"), ignore_errors=True)  # start from step 0
    db = tmp_path / "team.db"
    env = clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{db}")
    proc = subprocess.Popen([DVC, "repro", "--force", "--single-item", "train@slow-0"], cwd=repo,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (db.is_file() and list(checkpoint_folder(repo, "slow").glob("*/checkpoint.pt"))):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.01)
    db.rename(tmp_path / "gone.db")
    db.mkdir()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "warning: MLflow store" in err and "not logged to MLflow run" in err
    assert "Traceback" not in err
    assert (repo / "models/slow/seed0/weights/generator.pt").is_file()
    assert (repo / "models/slow/seed0/train_log.tsv").read_text().count("\n") > 100
    assert stages_run(dvc(repo, "repro", "train@slow-0").stdout) == set()  # committed by DVC
    db.rmdir()
    (tmp_path / "gone.db").rename(db)
    with sqlite3.connect(db) as con:
        (status,) = con.execute("select status from runs order by start_time desc").fetchone()
    assert status != "FINISHED"


# --------------------------------------------------------------------------- raw data


def test_a_changed_raw_image_reruns_prepare(tmp_path):
    root = tmp_path / "repo"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        for i in range(6):
            folder = root / "rawdata" / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    params = {**PARAMS, "data": {"source": "folder", "root": "rawdata", "image_size": 8,
                                 "test_fraction": 0.34}}
    repo = make_repo(root, params)
    assert stages_run(dvc(repo, "repro", "prepare").stdout) == {"prepare"}
    meta = json.loads((repo / "data/prepared/meta.json").read_text())
    assert stages_run(dvc(repo, "repro", "prepare").stdout) == set()  # unchanged: no rerun
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(repo / "rawdata" / "b" / "3.png")
    assert stages_run(dvc(repo, "repro", "prepare").stdout) == {"prepare"}
    changed = json.loads((repo / "data/prepared/meta.json").read_text())
    assert changed["raw"]["sha256"] != meta["raw"]["sha256"]
    assert changed["raw"]["files"] == 12


# --------------------------------------------------------------------------- the queue


def test_four_queued_experiments_two_at_a_time_all_logged(tmp_path):
    """`dvc exp run --queue` x4 + `dvc queue start -j 2`: four finished experiments, four
    MLflow runs in the repo root's store, none lost or left RUNNING."""
    repo = make_repo(tmp_path / "queue", PARAMS)
    dvc(repo, "repro", "prepare")  # committed: each experiment checks it out, then trains
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "prepared")
    for lr in ("0.0001", "0.0002", "0.0003", "0.0004"):
        dvc(repo, "exp", "run", "--queue", "-S", f"variants.quick.lr_g={lr}", "train@quick-0")
    dvc(repo, "queue", "start", "-j", "2", OMP_NUM_THREADS="1")  # a core per job
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = dvc(repo, "queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(2)
    assert status.count("Success") == 4, status
    quick = runs(repo, "quick")
    assert len(quick) == 4 and {s for _, s in quick} == {"FINISHED"}, quick
    with sqlite3.connect(repo / "mlflow.db") as con:
        names = {v for (v,) in con.execute("select value from tags where key = "
                                           "'dvc_experiment'")}
    assert len(names) == 4
    dvc(repo, "queue", "stop", check=False)
