"""``ganbench distribute``: the stale chains of the pipeline, fanned out over a Ray cluster.

One chain is ``train@<v>-<s> -> sample@<v>-<s> -> evaluate@<v>-<s>`` (one variant, one
training seed); chains share nothing but the upstream stages (``prepare``, ``judge``,
``reference``, ...) and meet again only in ``aggregate`` and ``report``. The flow::

    this clone (coordinator)                       Ray workers (one task per chain)
    1. checks: params, a committed tree, HEAD
       on the git remote, a DVC remote in
       .dvc/config, the MLflow server answers,
       the Ray cluster has the resources
    2. dvc repro --pull <upstream stages>
       ganbench push <upstream stages>
    3. dvc status --json -> stale chains  ───────> git clone <origin>; git checkout <HEAD>
                                                   dvc repro --pull evaluate@<v>-<s>
                                                     (upstream stages restored from the
                                                      run cache; train, sample, evaluate run)
    4. one line per chain state change    <─────── ganbench push <the chain's stages>
       failed chains: log tail, retried
    5. dvc repro --pull: every chain restored from the run cache, aggregate and report run
       ganbench push

(``ganbench push``: ``dvc push --run-cache`` plus what the run cache needs; ganbench.share.)

Decisions: the upstream stages run once, here, before the fan-out, and are pushed with their
run cache, so that every worker restores them instead of computing them again (they take
seconds to minutes; four workers doing them at once would waste that four times). A chain's
task asks Ray for ``--num-gpus`` (default 1; fractional, or 0 on a CPU cluster) and
``--cpus-per-chain`` CPUs, and its stages run with that many torch threads
(``OMP_NUM_THREADS``): two 2-thread torch jobs on 2 cores slowed each other 5-20x.
Ray's own task retries are off: a chain that fails (a stage's error, a killed process, a
lost worker) is reported with its log tail and submitted again, ``--retries`` times; its
training resumes from the checkpoint in ``GANBENCH_CHECKPOINT_DIR``, which every worker is
given (a shared folder on a cluster; see ``ganbench.checkpoint``). Workers log to the same
MLflow server (``MLFLOW_TRACKING_URI`` and its credentials are passed on). A worker's stages
import ganbench from its clone (``PYTHONPATH``), not from the node's installed copy, so the
outputs it pushes into the shared run cache are those of the commit DVC hashed. No argument
reaches a shell: every command is an argument list.

Records, kept across invocations (a rerun after failures must not erase the failed
attempts' logs): ``.ganbench-cache/distribute/attempts.json`` (per attempt: invocation,
chain, host, GPUs, start, end, outcome, the stages that ran) and
``.ganbench-cache/distribute/logs/`` (``<chain>.run<i>.attempt<n>.log``: the commands and
output of attempt n of invocation i).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from ganbench.checkpoint import CHECKPOINT_DIR_ENV, checkpoint_dir
from ganbench.errors import InputError, TrackingError, describe
from ganbench.io import atomic_file
from ganbench.share import dvc_executable
from ganbench.share import push as push_with_run_cache

CHAIN_STAGES = ("train", "sample", "evaluate")
RECORD_DIR = Path(".ganbench-cache") / "distribute"
TAIL_LINES = 25
# What the workers' stages need from the coordinator's environment (when set there).
PASSED_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
              "MLFLOW_TRACKING_TOKEN", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_INSECURE_TLS",
              "MLFLOW_TRACKING_SERVER_CERT_PATH", "GANBENCH_TRACKING_TIMEOUT")
# Files that are not dvc.yaml dependencies but change what a stage does.
CODE_PATHS = ("src/", "stages/", "dvc.yaml", "params.yaml", ".dvc/config", ".dvcignore",
              "pyproject.toml")
RAN = re.compile(r"Running stage '([^']+)'")
RESTORED = re.compile(r"Stage '([^']+)' is cached - skipping run")
# A worker's first command after checkout: the stages must import the clone's ganbench.
IMPORT_CHECK = ("import pathlib, sys, ganbench; here = pathlib.Path.cwd().resolve(); "
                "used = pathlib.Path(ganbench.__file__).resolve(); "
                "sys.exit(0 if used.is_relative_to(here) else "
                "f'ganbench is imported from {used}, not from the clone {here}')")


def say(message: str) -> None:
    print(f"ganbench distribute: {message}", flush=True)


# --------------------------------------------------------------------------- chains


def chain_of_stage(name: str) -> tuple[str, str] | None:
    """``("train", "cgan-0")`` for ``train@cgan-0`` (or ``dvc.yaml:train@cgan-0``); None for a
    stage that is not part of a chain."""
    stage, at, key = name.rsplit(":", 1)[-1].partition("@")
    if not at or stage not in CHAIN_STAGES or "-" not in key:
        return None
    return stage, key


def chain_stages(chain: str) -> list[str]:
    return [f"{stage}@{chain}" for stage in CHAIN_STAGES]


def stale_chains(status: dict[str, Any]) -> list[str]:
    """The chains (``cgan-0``) with at least one stage in ``dvc status --json``'s output, in
    the order DVC lists them."""
    found = []
    for name in status:
        parsed = chain_of_stage(name)
        if parsed and parsed[1] not in found:
            found.append(parsed[1])
    return found


def upstream_stages(root: Path) -> list[str]:
    """The stages every chain depends on (``prepare``, ``judge``, ``reference``, ...): the
    dependencies, direct or not, of the chain stages that are not chain stages themselves."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges go from a stage to the stages it depends on
        chains = [s for s in graph if chain_of_stage(s.addressing)]
        upstream = set()
        for stage in chains:
            upstream |= nx.descendants(graph, stage)
        return sorted(s.addressing for s in upstream if not chain_of_stage(s.addressing))


# --------------------------------------------------------------------------- checks


def _run(argv: list[str], cwd: Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, **kwargs)
    if check and result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise InputError(f"`{shlex.join(argv)}` failed in {cwd}: "
                         f"{lines[-1] if lines else f'exit {result.returncode}'}")
    return result


def _git(root: Path, *args: str, check: bool = True) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return _run(["git", *args], root, check=check, env=env).stdout


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/")
               for p in prefixes if p.rstrip("/"))


def pipeline_edits(root: Path) -> list[str]:
    """Uncommitted changes (tracked or untracked, not ignored) that change what a stage does:
    under a dependency of a stage in dvc.yaml, the code (``CODE_PATHS``) or the DVC config;
    the pipeline's own outputs (``tracking.pipeline_outputs``) do not count."""
    from ganbench.tracking import pipeline_outputs
    from ganbench.yaml12 import load_yaml

    deps = list(CODE_PATHS)
    stages = (load_yaml((root / "dvc.yaml").read_text()) or {}).get("stages") or {}
    for spec in stages.values():
        body = spec.get("do", spec) if isinstance(spec, dict) else {}
        for entry in body.get("deps") or []:
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            if isinstance(path, str):
                deps.append(path.split("${", 1)[0])
    outputs = pipeline_outputs(root)
    listing = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    changed, entries = [], listing.split("\0")
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if len(entry) < 4:
            continue
        if entry[0] in "RC":  # a rename: the old path follows
            index += 1
        path = entry[3:]
        if not _under(path, outputs) and _under(path, deps):
            changed.append(path)
    return changed


def origin_url(root: Path, remote: str) -> str:
    """The git remote's URL as a worker must use it (a local path made absolute)."""
    url = _git(root, "remote", "get-url", "--", remote, check=False).strip()
    if not url:
        raise InputError(f"git remote {remote!r} is not configured in {root}: the workers clone "
                         "the repository from it (`git remote add origin <url>`, or "
                         "--git-remote NAME)")
    scp_like = re.match(r"^[\w.-]+@?[\w.-]*:", url) and "://" not in url
    if "://" not in url and not scp_like:
        url = str((root / url).resolve())
    return url


def pushed_commit(root: Path, remote: str) -> str:
    """HEAD's commit, which must be on ``remote`` (checked after a fetch)."""
    head = _git(root, "rev-parse", "HEAD").strip()
    _git(root, "fetch", "--quiet", "--", remote)
    refs = _git(root, "for-each-ref", "--contains", head, "--format=%(refname)",
                f"refs/remotes/{remote}/").split()
    if not refs:
        raise InputError(f"HEAD ({head[:12]}) is not on git remote {remote!r}: the workers "
                         f"clone that commit from there; `git push {remote}` first")
    return head


def dvc_remote(root: Path, name: str | None) -> str:
    """The DVC remote of the whole run: this clone's default remote (its ``.dvc/config.local``
    included, as ``dvc repro --pull`` here reads it), which ``name`` may only confirm, since
    ``dvc repro`` has no remote option. It must be defined in the committed ``.dvc/config``
    (a worker's clone has no ``.dvc/config.local``); the workers are told its name."""
    listing = _run([dvc_executable(), "config", "--list", "--project"], root, check=False)
    config = dict(line.split("=", 1) for line in listing.stdout.splitlines() if "=" in line)
    remotes = sorted({k.split(".")[1] for k in config if k.startswith("remote.")
                      and k.endswith(".url")})
    effective = _run([dvc_executable(), "config", "core.remote"], root,
                     check=False).stdout.strip()
    chosen = name or effective
    if name and name != effective:
        raise InputError(f"--remote {name}: this clone's default DVC remote is "
                         f"{repr(effective) if effective else 'not set'}, "
                         "and the final `dvc repro --pull` here can only read the default; "
                         f"`dvc remote default --local {name}` makes it the default, or leave "
                         "--remote out")
    if not chosen:
        raise InputError("no default DVC remote in .dvc/config: the workers push their outputs "
                         "and run cache there and this clone pulls them back; `dvc remote add "
                         "-d storage <url>` (a shared folder, s3://..., ssh://...) and commit "
                         ".dvc/config")
    if chosen not in remotes:
        raise InputError(f"DVC remote {chosen!r} is not defined in .dvc/config (there: "
                         f"{', '.join(remotes) or 'none'}); a remote only in "
                         ".dvc/config.local is invisible to the workers' clones")
    return chosen


def tracking_store() -> str:
    """``MLFLOW_TRACKING_URI``, which every worker must reach, after the preflight check."""
    from ganbench.tracking import preflight, sqlite_path

    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if not uri:
        raise TrackingError("MLFLOW_TRACKING_URI is not set: a worker's default store is a "
                            "database in its throw-away clone; point MLFLOW_TRACKING_URI at the "
                            "team MLflow server (http://host:5000) that every worker reaches")
    if scheme.startswith("sqlite") and sqlite_path(uri) is None:
        raise TrackingError(f"MLFLOW_TRACKING_URI={uri}: the workers need a store they share "
                            "(an MLflow server, or sqlite:////<absolute path> on one machine)")
    if scheme not in ("http", "https") and not scheme.startswith("sqlite"):
        raise TrackingError(f"MLFLOW_TRACKING_URI={uri}: use an MLflow server (http[s]://...) "
                            "that every worker reaches")
    return preflight(uri)


def _resources(num_gpus: float, cpus: float, retries: int) -> None:
    if not (math.isfinite(num_gpus) and num_gpus >= 0) or \
            (num_gpus > 1 and not float(num_gpus).is_integer()):
        raise InputError(f"--num-gpus {num_gpus:g}: a whole number of GPUs, or a fraction of "
                         "one (0 < x < 1, chains sharing a GPU), or 0 on a CPU cluster")
    if not (math.isfinite(cpus) and cpus > 0):
        raise InputError(f"--cpus-per-chain {cpus:g}: must be > 0")
    if retries < 0:
        raise InputError(f"--retries {retries}: must be >= 0")


# --------------------------------------------------------------------------- the worker


def _worker_env(job: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DVC_ROOT", "DVC_STAGE", "DVC_EXP_NAME", "MLFLOW_RUN_ID")}
    env.update(job["env"])
    threads = str(max(1, int(job["cpus"])))
    env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                "GIT_TERMINAL_PROMPT": "0",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
    return env


def run_chain(job: dict, progress: Any = None) -> dict:
    """One attempt at one chain, in a fresh clone of the pushed commit (a Ray task; plain
    Python otherwise). Returns what happened; a command that fails or cannot start is
    recorded, not raised."""
    import ray

    started = time.time()
    host = socket.gethostname()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpu_ids = [str(g) for g in ray.get_gpu_ids()] if ray.is_initialized() else []
    info = {"chain": job["chain"], "attempt": job["attempt"], "host": host, "pid": os.getpid(),
            "cuda_visible_devices": visible, "gpu_ids": gpu_ids, "start": started}
    if progress is not None:
        progress.event.remote(job["chain"], job["attempt"], "running", info)
    base = Path(job["workdir"]) if job.get("workdir") else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"ganbench-{job['chain']}-", dir=base))
    dvc, env, log = dvc_executable(), _worker_env(job), []
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(work / "src"), env.get("PYTHONPATH"))
                                        if p)
    steps = [(base, ["git", "clone", "--quiet", "--no-checkout", "--", job["origin"], str(work)]),
             (work, ["git", "checkout", "--quiet", "--detach", job["commit"]]),
             (work, [sys.executable, "-c", IMPORT_CHECK])]
    if job.get("remote"):
        steps.append((work, [dvc, "remote", "default", "--local", job["remote"]]))
    steps += [(work, [dvc, "repro", "--pull", f"evaluate@{job['chain']}"]),
              (work, [sys.executable, "-m", "ganbench", "push", *chain_stages(job["chain"])])]
    outcome = {"ok": True, "exit": 0, "failed_command": None}
    try:
        for cwd, argv in steps:
            log.append(f"$ {shlex.join(argv)}\n")
            began = time.monotonic()
            try:
                done = subprocess.run(argv, cwd=cwd, env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, errors="replace")
            except OSError as exc:  # no git or dvc on this node, an unusable workdir
                log.append(f"could not start it on {host}: {describe(exc, with_type=True)}\n")
                outcome = {"ok": False, "exit": None, "failed_command": shlex.join(argv)}
                break
            log.append(done.stdout)
            log.append(f"[exit {done.returncode} after {time.monotonic() - began:.1f} s]\n")
            if done.returncode != 0:
                outcome = {"ok": False, "exit": done.returncode,
                           "failed_command": shlex.join(argv)}
                break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "".join(log)
    return {**info, **outcome, "end": time.time(), "log": text,
            "ran": RAN.findall(text), "restored": RESTORED.findall(text)}


class Progress:
    """A Ray actor the tasks tell when they start; the coordinator drains it."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def event(self, *event) -> None:
        self.events.append(event)

    def drain(self) -> list[tuple]:
        events, self.events = self.events, []
        return events


# --------------------------------------------------------------------------- the coordinator


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


def _gpus(info: dict) -> str:
    visible = info.get("cuda_visible_devices")
    return f"GPU {visible}" if visible else "no GPU"


def _stream(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv``, echoing its output; returns (exit code, output)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    out = []
    for line in proc.stdout:
        sys.stdout.write(line)
        out.append(line)
    sys.stdout.flush()
    return proc.wait(), "".join(out)


class PushError(RuntimeError):
    """Uploading to the DVC remote failed (the remote, not the user's input, is at fault)."""


def load_records(path: Path) -> list[dict]:
    """The attempts of earlier invocations (none when the file is missing or unreadable)."""
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return records if isinstance(records, list) else []


class Coordinator:
    def __init__(self, root: Path, args: argparse.Namespace):
        self.root, self.args = root, args
        self.record_dir = root / RECORD_DIR
        self.records = load_records(self.record_dir / "attempts.json")
        self.invocation = 1 + max((r.get("invocation", 0) for r in self.records
                                   if isinstance(r, dict)), default=0)
        self.remote: str | None = None
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DVC_ROOT", "DVC_STAGE", "DVC_EXP_NAME")}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    # ---- steps run here
    def dvc(self, *args: str) -> str:
        code, out = _stream([dvc_executable(), *args], self.root, self.env)
        if code != 0:
            raise InputError(f"`dvc {shlex.join(args)}` failed (exit {code}) in {self.root}")
        return out

    def push(self, *targets: str) -> None:
        """``ganbench push`` to the run's remote: the outputs, the run cache, and what it
        needs (ganbench.share)."""
        code = push_with_run_cache(self.root, self.remote, targets, env=self.env)
        if code != 0:
            raise PushError(f"pushing to DVC remote {self.remote!r} failed (exit {code}; its "
                            "error is above)")

    def save_records(self) -> None:
        with atomic_file(self.record_dir / "attempts.json") as handle:
            handle.write(json.dumps(self.records, indent=2, sort_keys=True) + "\n")

    def record(self, result: dict) -> None:
        log = (self.record_dir / "logs" /
               f"{result['chain']}.run{self.invocation}.attempt{result['attempt']}.log")
        with atomic_file(log) as handle:
            handle.write(result.pop("log", "") or "")
        self.records.append({**result, "invocation": self.invocation,
                             "log_file": str(log.relative_to(self.root))})
        self.save_records()

    # ---- the fan-out
    def fan_out(self, chains: list[str], job_base: dict) -> list[str]:
        """Run every chain on the cluster, each up to 1 + retries times; returns the chains
        that failed every attempt."""
        import ray

        args = self.args
        task = ray.remote(run_chain).options(num_gpus=args.num_gpus,
                                             num_cpus=args.cpus_per_chain, max_retries=0)
        progress = ray.remote(num_cpus=0)(Progress).remote()
        attempts = 1 + args.retries
        pending: dict[Any, tuple[str, int]] = {}

        def submit(chain: str, attempt: int) -> None:
            job = {**job_base, "chain": chain, "attempt": attempt}
            pending[task.remote(job, progress)] = (chain, attempt)
            say(f"{chain} queued (attempt {attempt} of {attempts})")

        def report_started() -> None:
            for chain, attempt, _, info in ray.get(progress.drain.remote()):
                say(f"{chain} running on {info['host']} ({_gpus(info)}), attempt {attempt}")

        for chain in chains:
            submit(chain, 1)
        failed = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            report_started()
            for ref in ready:
                chain, attempt = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker or its node died
                    result = {"chain": chain, "attempt": attempt, "ok": False, "exit": None,
                              "host": "?", "start": None, "end": time.time(),
                              "failed_command": None, "ran": [], "restored": [],
                              "log": f"the Ray task was lost: {describe(exc, with_type=True)}\n"}
                tail = _tail(result.get("log", ""))
                self.record(result)
                if result["ok"]:
                    what = (f"ran {', '.join(result['ran'])}" if result["ran"]
                            else "every stage restored from the run cache")
                    say(f"{chain} done on {result['host']} in "
                        f"{result['end'] - result['start']:.0f} s: {what}")
                    continue
                why = ("its worker was lost" if not result.get("failed_command") else
                       f"`{result['failed_command']}` could not start" if result["exit"] is None
                       else f"`{result['failed_command']}` exited {result['exit']}")
                say(f"{chain} failed on {result['host']} (attempt {attempt} of {attempts}): "
                    f"{why}; last lines:\n{tail}")
                if attempt < attempts:
                    submit(chain, attempt + 1)
                else:
                    failed.append(chain)
        report_started()
        return failed

    def run(self) -> int:
        args, root = self.args, self.root
        # 1. every check before anything expensive
        from ganbench.config import load_all

        params = load_all(root / "params.yaml")
        _resources(args.num_gpus, args.cpus_per_chain, args.retries)
        try:
            import ray
        except ImportError:
            raise InputError("ganbench distribute needs Ray: pip install -c constraints.txt "
                             "-e '.[cluster]' (the `cluster` extra)") from None
        edits = pipeline_edits(root)
        if edits:
            shown = ", ".join(edits[:5]) + (f" and {len(edits) - 5} more" if len(edits) > 5
                                            else "")
            raise InputError(f"uncommitted changes that affect the pipeline: {shown}; the "
                             "workers run the pushed commit, so commit and push them first")
        origin = origin_url(root, args.git_remote)
        commit = pushed_commit(root, args.git_remote)
        remote = self.remote = dvc_remote(root, args.remote)
        uri = tracking_store()
        checkpoints = str(checkpoint_dir(root, args.checkpoint_dir, "--checkpoint-dir").resolve())
        passed = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
        for name in args.env or []:
            if name not in os.environ:
                raise InputError(f"--env {name}: not set in this environment")
            passed[name] = os.environ[name]
        passed[CHECKPOINT_DIR_ENV] = checkpoints
        self.env.update(passed)
        say(f"commit {commit[:12]} from {origin}; DVC remote {remote!r}; MLflow {uri}; "
            f"checkpoints in {checkpoints}; {len(params['variants'])} variants x "
            f"{len(params['seeds'])} seeds")
        connect_ray(ray, args.address)
        try:
            resources = ray.cluster_resources()
            self._check_cluster(resources)
            say(f"Ray cluster of {resources.get('GPU', 0):g} GPUs, {resources.get('CPU', 0):g} "
                f"CPUs; each chain asks for {args.num_gpus:g} GPU, {args.cpus_per_chain:g} CPU")

            # 2. the shared upstream stages, here, then into the remote with their run cache
            upstream = upstream_stages(root)
            say(f"upstream stages here first: {', '.join(upstream)}")
            self.dvc("repro", "--pull", *upstream)
            self.push(*upstream)

            # 3. the stale chains
            status = json.loads(_run([dvc_executable(), "status", "--json"], root,
                                     env=self.env).stdout or "{}")
            chains = stale_chains(status)
            if args.dry_run:
                say(f"stale chains: {', '.join(chains) or 'none'} (--dry-run: nothing "
                    "submitted)")
                return 0
            failed: list[str] = []
            if chains:
                say(f"{len(chains)} stale chains")
                job_base = {"origin": origin, "commit": commit, "remote": remote,
                            "env": passed, "cpus": args.cpus_per_chain,
                            "workdir": args.workdir}
                failed = self.fan_out(chains, job_base)
            else:
                say("no stale chain")
        finally:
            ray.shutdown()
        if failed:
            say(f"{len(failed)} of {len(chains)} chains failed every attempt: "
                f"{', '.join(failed)}; logs in {RECORD_DIR / 'logs'}; the others are in the "
                "DVC remote (`ganbench distribute` again restores them from the run cache and "
                "trains only the failed ones)")
            return 1

        # 5. everything back here from the run cache; only the cheap stages run
        out = self.dvc("repro", "--pull")
        ran, restored = RAN.findall(out), RESTORED.findall(out)
        trained = [s for s in ran if chain_of_stage(s)]
        say(f"final dvc repro --pull ran {', '.join(ran) or 'nothing'}; restored "
            f"{len(restored)} stages from the run cache")
        if trained:
            say(f"warning: {', '.join(trained)} ran here instead of on the cluster (not in the "
                "run cache: did a worker's `ganbench push` fail?)")
        if not args.no_push:
            self.push()
        say("done: commit dvc.lock and the small outputs (git status) to share the results")
        return 0

    def _check_cluster(self, resources: dict) -> None:
        args = self.args
        if args.num_gpus > resources.get("GPU", 0):
            raise InputError(f"a chain asks for --num-gpus {args.num_gpus:g} but the Ray cluster "
                             f"has {resources.get('GPU', 0):g} GPUs (pass --num-gpus 0 on a CPU "
                             "cluster)")
        if args.cpus_per_chain > resources.get("CPU", 0):
            raise InputError(f"a chain asks for --cpus-per-chain {args.cpus_per_chain:g} but the "
                             f"Ray cluster has {resources.get('CPU', 0):g} CPUs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                        help="the Ray cluster (host:port of `ray start --head`; default "
                             "$RAY_ADDRESS, else a Ray instance on this machine)")
    parser.add_argument("--num-gpus", type=float, default=1.0,
                        help="GPUs per chain (default 1; a fraction shares one; 0 on CPUs)")
    parser.add_argument("--cpus-per-chain", type=float, default=1.0,
                        help="CPUs per chain, and its torch threads (default 1)")
    parser.add_argument("--retries", type=int, default=2,
                        help="times a failed chain is submitted again (default 2)")
    parser.add_argument("--remote", default=None,
                        help="DVC remote (default: the default remote of .dvc/config)")
    parser.add_argument("--git-remote", default="origin",
                        help="git remote the workers clone from (default origin)")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="training checkpoints, a folder every worker sees (default "
                             "$GANBENCH_CHECKPOINT_DIR, else .ganbench-cache/checkpoints here)")
    parser.add_argument("--workdir", default=None,
                        help="where workers make their clones (default: their temp folder)")
    parser.add_argument("--env", action="append", metavar="NAME",
                        help="also pass this environment variable to the workers (repeatable)")
    parser.add_argument("--dry-run", action="store_true",
                        help="run the checks and the upstream stages, list the stale chains")
    parser.add_argument("--no-push", action="store_true",
                        help="do not push the final outputs and run cache")


def connect_ray(ray: Any, address: str | None) -> None:
    """``ray.init`` on ``address`` (host:port, ``ray://host:port``, ``auto``) or, without one,
    a Ray instance on this machine. A host:port that refuses connections is an input error
    at once (``ray.init`` itself waits minutes on a dead address)."""
    if address and address not in ("auto", "local"):
        target = urllib.parse.urlsplit(address if "://" in address else f"ray://{address}")
        try:
            host, port = target.hostname, target.port
        except ValueError:
            host = port = None
        if not host or not port:
            raise InputError(f"--address {address}: expected host:port of `ray start --head` "
                             "(or ray://host:port, or auto)")
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as exc:
            raise InputError(f"--address {address}: no Ray cluster answers there "
                             f"({describe(exc)}); start one with `ray start --head --port "
                             f"{port}`, or leave --address and RAY_ADDRESS out to start Ray on "
                             "this machine") from None
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        else:
            ray.init(log_to_driver=False, logging_level="WARNING")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"could not connect to Ray at {address or 'this machine'}: "
                         f"{describe(exc)}") from None


def main(root: Path, args: argparse.Namespace) -> int:
    from ganbench.config import ParamsError

    try:
        return Coordinator(root, args).run()
    except (ParamsError, InputError, TrackingError) as exc:
        print(f"ganbench distribute: error: {exc}", file=sys.stderr)
        return 2
    except PushError as exc:
        print(f"ganbench distribute: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ganbench distribute: interrupted; chains already pushed stay in the DVC remote",
              file=sys.stderr)
        return 130
