"""Scaling out, for real, on this one machine: a team MLflow server with basic authentication,
a DVC remote shared by clones, and ``ganbench distribute`` over a local Ray cluster with two
logical GPUs.

One tiny pipeline serves every test (module fixtures): a bare git origin and a local-folder
DVC remote; a coordinator clone runs ``ganbench distribute`` against a real ``ray start
--head`` (2 CPUs, 2 logical GPUs) and a real ``mlflow server --app-name basic-auth`` on
loopback; the test kills one chain's ``python stages/train.py`` with SIGKILL once its first
checkpoint is in the shared checkpoint folder. Then a second clone pulls the results from the
DVC remote. Both servers start once for the module (each takes seconds).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline_util import BIN, clean_env, dvc, git, make_repo, stages_run

pytestmark = pytest.mark.slow

PARAMS = {
    "data": {"source": "digits", "image_size": 8},
    "judge": {"epochs": 1, "width": 8, "device": "cpu"},
    "sample": {"n_samples": 50, "seed": 1},
    "eval": {"backbones": ["judge"], "kid_subsets": 2, "kid_subset_size": 20, "prdc_k": 3,
             "noise_draws": 1, "device": "cpu"},
    "report": {},
    "seeds": [0, 1],
    "variants": {
        # 176 steps, a checkpoint after each epoch (44 steps): the kill lands mid-training
        "slow": {"arch": "dcgan", "epochs": 4, "width": 8, "z_dim": 8, "batch_size": 32,
                 "device": "cpu"},
        "quick": {"arch": "dcgan", "epochs": 1, "width": 8, "z_dim": 8, "device": "cpu"},
    },
}
CHAINS = ["slow-0", "slow-1", "quick-0", "quick-1"]
ADMIN, PASSWORD = "admin", "ganbench-admin-password"
GANBENCH = str(BIN / "ganbench")
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # loopback addresses only
           "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the process group this fixture started (and only that)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            return


def wait_until(check, what: str, log: Path, proc: subprocess.Popen, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        if check():
            return
        time.sleep(0.3)
    pytest.fail(f"{what} did not start within {limit:g} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` with basic auth on a free loopback port: SQLite backend, proxied
    artifact store, one worker; the admin's password from MLFLOW_AUTH_ADMIN_PASSWORD."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    (folder / "auth.ini").write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{folder}/auth.db\nadmin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # a password check costs a hash (2.4 s a request on a busy 2-core machine): once a minute
        "auth_cache_ttl_seconds = 60\n")
    env = clean_env(MLFLOW_AUTH_CONFIG_PATH=str(folder / "auth.ini"),
                    MLFLOW_AUTH_ADMIN_PASSWORD=PASSWORD,
                    MLFLOW_FLASK_SERVER_SECRET_KEY="ganbench-test-secret")
    port = free_port()
    log = folder / "server.log"
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
         "--artifacts-destination", str(folder / "artifacts"), "--app-name", "basic-auth"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False
    try:
        wait_until(healthy, "mlflow server", log, proc)
        yield url
    finally:
        stop_group(proc)


@pytest.fixture(scope="module")
def ray_cluster():
    """``ray start --head --block`` with 2 CPUs and 2 logical GPUs on loopback; its address."""
    temp = Path(tempfile.mkdtemp(prefix="gbray-"))  # short: Ray's socket paths must fit
    port = free_port()
    log = temp / "ray.log"
    env = clean_env(**RAY_ENV)
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--port", str(port),
         "--num-cpus", "2", "--num-gpus", "2", "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", str(temp),
         "--object-store-memory", str(100 * 2**20),
         "--dashboard-agent-listen-port", str(free_port())],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    probe = ("import ray; ray.init(address=%r, log_to_driver=False); "
             "assert ray.cluster_resources().get('GPU') == 2" % address)

    def up() -> bool:
        with socket.socket() as sock:  # the GCS port first: a driver would wait a minute
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return False
        with contextlib.suppress(subprocess.TimeoutExpired):
            return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                                  timeout=60).returncode == 0
        return False
    try:
        wait_until(up, "ray start --head", log, proc)
        yield address
    finally:
        stop_group(proc)
        shutil.rmtree(temp, ignore_errors=True)


@dataclass
class Team:
    origin: Path
    remote: Path
    coordinator: Path
    checkpoints: Path
    server: str
    output: str
    code: int
    killed: dict
    seconds: float

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(MLFLOW_TRACKING_URI=self.server, MLFLOW_TRACKING_USERNAME=ADMIN,
                         MLFLOW_TRACKING_PASSWORD=PASSWORD, **RAY_ENV, **extra)

    def attempts(self) -> list[dict]:
        return json.loads((self.coordinator / ".ganbench-cache/distribute/attempts.json")
                          .read_text())


def kill_training_after_first_checkpoint(folder: Path, proc: subprocess.Popen) -> dict:
    """Once ``folder`` (one chain's checkpoints) holds a checkpoint, SIGKILL the process named
    in its owner.pid (after checking that it is ``python stages/train.py``)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        for ckpt in folder.glob("*/checkpoint.pt"):
            owner = ckpt.parent / "owner.pid"
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid, host = owner.read_text().split()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                os.kill(int(pid), signal.SIGKILL)
                return {"pid": int(pid), "host": host, "command": command}
        time.sleep(0.02)
    pytest.fail("the chain's training ended (or never started) before its first checkpoint")


@pytest.fixture(scope="module")
def team(tmp_path_factory, mlflow_server, ray_cluster) -> Team:
    """The coordinator's `ganbench distribute` run, one training killed on the way."""
    base = tmp_path_factory.mktemp("team")
    origin, remote = base / "origin.git", base / "dvc-remote"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(origin)],
                   check=True)
    source = make_repo(base / "first", PARAMS)
    dvc(source, "remote", "add", "-d", "storage", str(remote))
    git(source, "add", "-A")
    git(source, "commit", "-qm", "team remote")
    git(source, "remote", "add", "origin", str(origin))
    git(source, "push", "-q", "origin", "HEAD:refs/heads/main")
    coordinator = base / "coordinator"
    git(base, "clone", "-q", str(origin), str(coordinator))
    checkpoints = base / "checkpoints"
    team = Team(origin, remote, coordinator, checkpoints, mlflow_server, "", -1, {}, 0.0)
    log = base / "distribute.log"
    start = time.monotonic()
    proc = subprocess.Popen(
        [GANBENCH, "distribute", "--address", ray_cluster, "--num-gpus", "1",
         "--cpus-per-chain", "1", "--retries", "1", "--checkpoint-dir", str(checkpoints),
         "--workdir", str(base / "work")],
        cwd=coordinator, env=team.env(), stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        team.killed = kill_training_after_first_checkpoint(checkpoints / "slow-seed0", proc)
        team.code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    team.seconds = time.monotonic() - start
    team.output = log.read_text()
    print(team.output[-6000:])
    return team


# --------------------------------------------------------------------------- fan-out


def test_distribute_runs_every_chain_on_the_cluster_and_only_aggregate_and_report_here(team):
    """Every chain completes on a worker; no more than the cluster's 2 GPUs' worth of chains
    run at once, each seeing its own CUDA_VISIBLE_DEVICES; the final `dvc repro --pull`
    restores every chain from the run cache and runs only aggregate and report."""
    assert team.code == 0, team.output[-5000:]
    attempts = team.attempts()
    done = {a["chain"] for a in attempts if a["ok"]}
    assert done == set(CHAINS)
    for a in attempts:
        if a["ok"]:
            assert {f"train@{a['chain']}", f"evaluate@{a['chain']}"} <= set(a["ran"]), a
            assert {"prepare", "judge", "reference"} <= set(a["restored"]), a
            assert a["gpu_ids"] == [a["cuda_visible_devices"]], a  # one GPU each, from Ray
    # at most two at once, and any two that overlap saw different GPUs
    timed = [a for a in attempts if a["start"] is not None]
    for a in timed:
        running = [b for b in timed if b["start"] <= a["start"] < b["end"]]
        assert len(running) <= 2, running
        assert len({b["cuda_visible_devices"] for b in running}) == len(running), running
    assert {a["cuda_visible_devices"] for a in timed} == {"0", "1"}
    final = team.output.split("final dvc repro --pull ran ", 1)[1].splitlines()[0]
    assert final.startswith("source, aggregate, report;"), final
    assert "restored 12 stages from the run cache" in final  # 4 chains x 3 stages
    for chain in CHAINS:
        variant, seed = chain.rsplit("-", 1)
        for rel in (f"models/{variant}/seed{seed}/weights/generator.pt",
                    f"samples/{variant}/seed{seed}/samples.npz",
                    f"reports/metrics/{variant}/seed{seed}.json"):
            assert (team.coordinator / rel).is_file(), rel
    metrics = json.loads((team.coordinator / "reports/metrics.json").read_text())
    assert metrics["slow"]["seeds"] == [0, 1] and metrics["quick"]["seeds"] == [0, 1]
    assert stages_run(dvc(team.coordinator, "repro", **team.env()).stdout) == set()


def test_a_training_killed_mid_run_is_rescheduled_and_resumes_from_the_shared_checkpoint(team):
    """SIGKILL of slow-0's `python stages/train.py`: the chain is reported failed with its log
    tail, submitted again, and its training resumes from the checkpoint the dead process left
    in the shared folder (owner pid and host recorded); nothing is left there after."""
    assert b"stages/train.py" in team.killed["command"], team.killed
    assert team.killed["host"] == socket.gethostname()
    slow0 = [a for a in team.attempts() if a["chain"] == "slow-0"]
    assert [a["ok"] for a in slow0] == [False, True], slow0
    assert "repro --pull evaluate@slow-0" in slow0[0]["failed_command"]
    failed_log = (team.coordinator / slow0[0]["log_file"]).read_text()
    assert "failed to reproduce 'train@slow-0'" in failed_log
    assert "slow-0 failed on" in team.output and "last lines:" in team.output
    assert "slow-0 queued (attempt 2 of 2)" in team.output
    resumed_log = (team.coordinator / slow0[1]["log_file"]).read_text()
    assert "slow-seed0: resuming from the checkpoint at step" in resumed_log, resumed_log
    assert not list(team.checkpoints.glob("*/*/checkpoint.pt"))  # removed after training


# --------------------------------------------------------------------------- the team server


def test_every_chain_run_its_metrics_and_artifacts_reach_the_team_server(
        team, tmp_path, monkeypatch):
    """Each (variant, seed) has a FINISHED run on the server with its training curve, its
    metrics and its sample grid (through the proxied artifact store); each variant's parent
    lists its seeds' runs; the comparison run links the parents and, in runs.json, every
    seed's run. The killed attempt's run was marked KILLED when the chain trained again."""
    import mlflow
    from mlflow.entities import ViewType

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    server = mlflow.tracking.MlflowClient(tracking_uri=team.server)
    experiment = server.get_experiment_by_name("ganbench")
    runs = server.search_runs([experiment.experiment_id], max_results=100,
                              run_view_type=ViewType.ALL)
    seeds = {(r.data.tags["variant"], r.data.tags["seed"]): r for r in runs
             if "seed" in r.data.tags and r.info.status == "FINISHED"}
    assert set(seeds) == {("slow", "0"), ("slow", "1"), ("quick", "0"), ("quick", "1")}
    killed = [r for r in runs if r.data.tags.get("variant") == "slow" and
              r.data.tags.get("seed") == "0" and r.info.status != "FINISHED"]
    assert [r.info.status for r in killed] == ["KILLED"], killed
    parents = {r.data.tags["variant"]: r for r in runs if r.data.tags.get("kind") == "variant"}
    assert set(parents) == {"slow", "quick"}
    for (variant, seed), run in seeds.items():
        assert {"loss_d", "loss_g", "judge.fid", "train_seconds"} <= set(run.data.metrics)
        assert run.data.tags["mlflow.parentRunId"] == parents[variant].info.run_id
        assert "restored" not in run.data.tags  # the worker's own run, found by fingerprint
        grid = server.download_artifacts(run.info.run_id, "train_grid.png", str(tmp_path))
        assert Path(grid).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for variant, parent in parents.items():
        listed = dict(p.split(":") for p in parent.data.tags["seed_runs"].split(","))
        assert listed == {s: seeds[(variant, s)].info.run_id for s in ("0", "1")}
    comparison = next(r for r in runs if r.data.tags.get("kind") == "comparison")
    assert comparison.data.tags["variant_runs"] == ",".join(
        f"{v}:{parents[v].info.run_id}" for v in ("slow", "quick"))
    links = json.loads(Path(server.download_artifacts(
        comparison.info.run_id, "runs.json", str(tmp_path))).read_text())
    assert links == {v: {"parent": parents[v].info.run_id,
                         "seeds": {s: seeds[(v, s)].info.run_id for s in ("0", "1")}}
                     for v in ("slow", "quick")}
    names = {a.path for a in server.list_artifacts(comparison.info.run_id)}
    assert {"summary.md", "index.html", "metrics.json", "runs.json"} <= names


def test_a_wrong_password_or_no_login_stops_a_stage_and_distribute_at_once(team):
    """The stage's preflight and `ganbench distribute` stop within seconds with one line that
    names the server and what to set; nothing runs."""
    for extra, expected in (
            ({"MLFLOW_TRACKING_PASSWORD": "wrong-password"},
             f"MLflow tracking server {team.server} rejected the login of user 'admin' "
             "(HTTP 401: wrong password or unknown user): set MLFLOW_TRACKING_PASSWORD"),
            ({"MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": ""},
             f"MLflow tracking server {team.server} requires a login (HTTP 401): set "
             "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")):
        env = {**team.env(), **extra}
        start = time.monotonic()
        stage = subprocess.run([sys.executable, "stages/train.py", "quick", "0"],
                               cwd=team.coordinator, env=env, capture_output=True, text=True)
        assert stage.returncode == 2, stage.stdout + stage.stderr
        assert stage.stderr.startswith(f"ganbench train: error: {expected}"), stage.stderr
        assert len(stage.stderr.strip().splitlines()) == 1, stage.stderr
        assert time.monotonic() - start < 30
        fanned = subprocess.run([GANBENCH, "distribute", "--address", "127.0.0.1:9"],
                                cwd=team.coordinator, env=env, capture_output=True, text=True)
        assert fanned.returncode == 2
        assert fanned.stderr.startswith(f"ganbench distribute: error: {expected}"), fanned.stderr
        assert len(fanned.stderr.strip().splitlines()) == 1 and "Running stage" not in \
            fanned.stdout


# --------------------------------------------------------------------------- the DVC remote


def test_a_second_clone_pulls_every_output_and_retrains_nothing(team, tmp_path):
    """The team set-up: the coordinator commits and pushes the results (git and DVC, run cache
    included); a second clone `dvc pull`s them, then `dvc repro` runs nothing (no train@
    stage), and metrics.json and the weights are the same bytes."""
    coordinator = team.coordinator
    git(coordinator, "add", "-A")
    git(coordinator, "commit", "-qm", "results")
    git(coordinator, "push", "-q", "origin", "HEAD:refs/heads/main")
    pushed = subprocess.run([GANBENCH, "push"], cwd=coordinator, env=team.env(),
                            capture_output=True, text=True)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(team.origin), str(second))
    dvc(second, "pull")
    ran = dvc(second, "repro").stdout
    assert stages_run(ran) == set(), ran
    for rel in ("reports/metrics.json", "models/slow/seed0/weights/generator.pt",
                "samples/quick/seed1/samples.npz", "models/judge/classifier.pt"):
        assert (second / rel).read_bytes() == (coordinator / rel).read_bytes(), rel
    assert git(second, "status", "--porcelain") == ""


def test_distribute_refuses_what_workers_cannot_reproduce(tmp_path):
    """One line, exit 2, before Ray or DVC runs anything: uncommitted pipeline edits, a HEAD
    that is not on the git remote, no DVC remote in .dvc/config, no shared MLflow store."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(origin)],
                   check=True)
    repo = make_repo(tmp_path / "repo", PARAMS)
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")

    def refused(*args: str, env: dict | None = None) -> str:
        done = subprocess.run([GANBENCH, "distribute", "--address", "127.0.0.1:9", *args],
                              cwd=repo, capture_output=True, text=True,
                              env=env or clean_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9"))
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        return done.stderr
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "\n")
    assert "uncommitted changes that affect the pipeline: params.yaml" in refused()
    git(repo, "commit", "-qam", "local only")
    assert "is not on git remote 'origin': the workers clone that commit from there; " \
           "`git push origin` first" in refused()
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    assert "no default DVC remote in .dvc/config" in refused()
    assert "--remote elsewhere: this clone's default DVC remote is not set" in \
        refused("--remote", "elsewhere")
    dvc(repo, "remote", "add", "--local", "-d", "mine", str(tmp_path / "remote"))
    assert "a remote only in .dvc/config.local is invisible to the workers" in \
        refused("--remote", "mine")
    dvc(repo, "remote", "default", "--local", "--unset")
    dvc(repo, "remote", "add", "-d", "storage", str(tmp_path / "remote"))
    git(repo, "commit", "-qam", "remote")
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    assert "MLFLOW_TRACKING_URI is not set" in refused(env=clean_env())
    assert "MLflow tracking server http://127.0.0.1:9 is not reachable" in refused()
