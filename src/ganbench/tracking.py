"""MLflow tracking: one run per (variant, seed) chain, reopened by the chain's later stages, and
one parent run per variant that groups its seeds and holds the aggregate.

Default store: ``sqlite:///<DVC root>/mlflow.db`` with artifacts in ``<DVC root>/mlartifacts``,
both absolute. ``DVC_ROOT`` (set by DVC inside ``dvc exp run --queue``/``--temp`` workspaces)
wins over the current folder, so queued experiments log into the user's database instead of
a throw-away copy. ``MLFLOW_TRACKING_URI`` overrides the store (a team server);
``MLFLOW_EXPERIMENT_NAME`` overrides the experiment (default ``ganbench``).

Failure behaviour (README, "Failure behaviour"):

- ``preflight`` checks the store before a stage does any work, without importing MLflow:
  an HTTP server must answer within ``GANBENCH_TRACKING_TIMEOUT`` seconds (default 10), a
  SQLite file must be creatable. A store that fails is a ``TrackingError``: one line naming
  the URI and what to do.
- MLflow's own HTTP retries (255 s by default) are cut to the same budget unless the user set
  ``MLFLOW_HTTP_REQUEST_TIMEOUT`` / ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` themselves.
- Once a run has started, tracking errors never cost the stage its outputs: ``RunLog``
  catches them, stops calling a store that failed, and says what was not logged; the run is
  then ended FAILED (when the store answers), never FINISHED.
- Interrupted runs end KILLED; a run left RUNNING by a killed process (``kill -9``) on this
  host is marked KILLED when its variant trains again.

The run id is not part of any DVC output (it changes on every run): it lives in a side file
of the workspace, ``.ganbench-cache/runs/<variant>-seed<s>.json``, together with the
fingerprint of what trained; the report stage, which logs every chain's metrics, finds a run
whose side file is elsewhere (weights restored from DVC's run cache) by its tags instead, or
starts one tagged ``restored``.

Grouping: the report stage gives each variant a parent run (tag ``kind = variant``, found
again by the variant and the fingerprint of its settings and data) holding the aggregate
over seeds, and makes each seed's run its child (MLflow's ``mlflow.parentRunId`` tag), so
``mlflow ui`` shows a variant's seeds under one row.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

from ganbench.errors import Interrupted, TrackingError, describe
from ganbench.io import pid_alive, read_json, write_json

DEFAULT_EXPERIMENT = "ganbench"
TIMEOUT_ENV = "GANBENCH_TRACKING_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
RUNS_DIR = Path(".ganbench-cache") / "runs"
SQLITE_HEADER = b"SQLite format 3\x00"

# MLflow and alembic are chatty at INFO on every SQLite open; MLflow's SQL store also logs a
# full traceback for each database error it then raises, which RunLog reports in one line.
for _name in ("alembic", "mlflow.tracking.fluent"):
    logging.getLogger(_name).setLevel(logging.WARNING)
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


# --------------------------------------------------------------------------- the store


def project_root(start: str | Path | None = None) -> Path:
    """The DVC root: ``$DVC_ROOT`` when set, else the nearest folder holding ``.dvc/``."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return here


def tracking_uri(root: Path | None = None) -> str:
    """``$MLFLOW_TRACKING_URI`` or the embedded SQLite store at the DVC root (absolute)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(root or project_root()) / 'mlflow.db'}"


def timeout_budget() -> float:
    """Seconds a tracking store may take to answer: ``$GANBENCH_TRACKING_TIMEOUT`` or 10."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise TrackingError(f"{TIMEOUT_ENV}={text!r}: must be a number of seconds in (0, 3600]")
    return value


def limit_mlflow_retries() -> None:
    """Cut MLflow's HTTP retries (7 retries with exponential backoff, about 255 s, by default)
    to about the timeout budget, unless the user set MLflow's own variables."""
    budget = timeout_budget()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(budget))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def _what_to_do(uri: str) -> str:
    default = f"sqlite:///{project_root() / 'mlflow.db'}"
    if uri != default:
        return (f"start it, point MLFLOW_TRACKING_URI at a store that works, or unset "
                f"MLFLOW_TRACKING_URI to log to {default}")
    return "fix its folder, or set MLFLOW_TRACKING_URI to a store that works"


def preflight(uri: str | None = None) -> str:
    """Check that the tracking store answers, quickly and without importing MLflow.

    HTTP(S): one request to the experiments API within the timeout budget (credentials from
    ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` or ``MLFLOW_TRACKING_TOKEN``); SQLite: the
    file's folder exists and the file, if there, is a SQLite database. Other stores are
    left to MLflow (with its retries limited). Returns the URI; raises ``TrackingError``.
    """
    uri = uri or tracking_uri()
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        _probe_http(uri, timeout_budget())
    elif scheme == "sqlite" or scheme.startswith("sqlite+"):
        _probe_sqlite(uri)
    elif scheme in ("", "file"):
        raise TrackingError(f"MLflow tracking store {uri}: MLflow 3 no longer accepts a file "
                            "store; use sqlite:///<path>/mlflow.db or a tracking server")
    limit_mlflow_retries()
    return uri


def _auth_headers(uri: str) -> dict[str, str]:
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if bool(user) != bool(password):
        have, lack = (("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD") if user else
                      ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME"))
        raise TrackingError(f"MLflow tracking server {uri}: {have} is set but {lack} is not; "
                            "set both (basic authentication) or neither")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return {"Authorization": f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"}
    return {}


def _probe_http(uri: str, timeout: float) -> None:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
    url = (uri.rstrip("/") + "/api/2.0/mlflow/experiments/get-by-name?"
           + urllib.parse.urlencode({"experiment_name": name}))
    context = None
    if uri.lower().startswith("https"):
        context = ssl.create_default_context(
            cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(url, headers=_auth_headers(uri))
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context):
            return
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and b"RESOURCE_DOES_NOT_EXIST" in exc.read():
            return  # the server answers; the experiment is created on first use
        if exc.code in (401, 403):
            raise TrackingError(_refusal(uri, exc.code, name)) from None
        raise TrackingError(f"MLflow tracking server {uri} answered HTTP {exc.code} "
                            f"({exc.reason}); is this an MLflow server? "
                            f"{_what_to_do(uri)}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
            reason = f"no answer within {timeout:g} s ({TIMEOUT_ENV} sets the limit)"
        raise TrackingError(f"MLflow tracking server {uri} is not reachable ({reason}); "
                            f"{_what_to_do(uri)}") from None


def _refusal(uri: str, code: int, experiment: str) -> str:
    """What a 401/403 from the server means with the credentials this process has."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if code == 403:
        who = f"user {user!r}" if user else "these credentials"
        return (f"MLflow tracking server {uri} refused {who} access to experiment "
                f"{experiment!r} (HTTP 403): ask the server's admin for EDIT permission on it, "
                "or set MLFLOW_EXPERIMENT_NAME to an experiment you may use")
    if user:
        return (f"MLflow tracking server {uri} rejected the login of user {user!r} (HTTP 401: "
                "wrong password or unknown user): set MLFLOW_TRACKING_PASSWORD to that user's "
                "password on this server (MLFLOW_TRACKING_USERNAME names the user)")
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return (f"MLflow tracking server {uri} rejected MLFLOW_TRACKING_TOKEN (HTTP 401): "
                "set it to a token this server accepts")
    return (f"MLflow tracking server {uri} requires a login (HTTP 401): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for an in-memory database)."""
    rest = uri.split("://", 1)[1] if "://" in uri else ""
    if not rest.startswith("/") or rest in ("/", "/:memory:"):
        return None
    return Path(urllib.parse.unquote(rest[1:].split("?", 1)[0]))


def _probe_sqlite(uri: str) -> None:
    path = sqlite_path(uri)
    if path is None:
        return
    folder = path.parent
    problem = None
    if not folder.exists():
        problem = f"its folder {folder} does not exist"
    elif not folder.is_dir():
        problem = f"{folder} is not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"its folder {folder} is not writable"
    elif path.exists():
        if not path.is_file():
            problem = f"{path} is not a file"
        elif not os.access(path, os.R_OK | os.W_OK):
            problem = f"{path} is not readable and writable"
        else:
            with open(path, "rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
            if head and head != SQLITE_HEADER:
                problem = f"{path} is not a SQLite database"
    if problem:
        raise TrackingError(f"MLflow tracking store {uri}: {problem}; {_what_to_do(uri)}")


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite store while it is opened: MLflow creates and
    migrates a new database on first use, and two stages doing that at once (``dvc queue
    start -j 2`` on a fresh repo) fail with "duplicate column name"."""
    path = sqlite_path(uri) if uri.lower().startswith("sqlite") else None
    if path is None:
        yield
        return
    import fcntl

    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _configure() -> None:
    """Point MLflow at the store and the experiment (created on first use)."""
    import mlflow

    root = project_root()
    uri = tracking_uri(root)
    limit_mlflow_retries()
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
    with _store_lock(uri):
        mlflow.set_tracking_uri(uri)
        if mlflow.get_experiment_by_name(name) is None:
            location = None
            if uri == f"sqlite:///{root / 'mlflow.db'}":  # the embedded store
                location = (root / "mlartifacts").as_uri()
            try:
                mlflow.create_experiment(name, artifact_location=location)
            except mlflow.exceptions.MlflowException as exc:
                # a server is not locked: a stage on another worker may have just created it
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
    mlflow.set_experiment(name)


# --------------------------------------------------------------------------- provenance


def pipeline_outputs(root: Path) -> list[str]:
    """Path prefixes the pipeline writes (dvc.yaml's outs, metrics and plots up to their first
    ``${``), and dvc.lock: changes there are the pipeline's own, not the user's edits."""
    from ganbench.yaml12 import load_yaml

    prefixes = ["dvc.lock"]
    try:
        stages = (load_yaml((root / "dvc.yaml").read_text()) or {}).get("stages") or {}
    except Exception:  # noqa: BLE001 - no or broken dvc.yaml: nothing is the pipeline's
        return prefixes
    for spec in stages.values():
        body = spec.get("do", spec) if isinstance(spec, dict) else {}
        for kind in ("outs", "metrics", "plots"):
            for entry in body.get(kind) or []:
                path = next(iter(entry)) if isinstance(entry, dict) else entry
                if isinstance(path, str):
                    prefixes.append(path.split("${", 1)[0])
    return prefixes


def git_state(root: Path | None = None) -> dict[str, str]:
    """The code's commit and a dirty flag (``unknown`` outside git).

    The pipeline's own outputs (``pipeline_outputs``) are not the code: the commit is the
    last one that changed anything else (so committing a run's results does not change the
    commit that the results name), and dirty means an edit to anything else. A fresh clone
    that has just run ``make run`` names the commit it was cloned at, clean.
    """
    root = root or project_root()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True).stdout

    outputs = pipeline_outputs(root)
    excluded = [f":(exclude){o.rstrip('/')}" for o in outputs if o.rstrip("/")]
    try:
        commit = git("log", "-1", "--format=%H", "--", ".", *excluded).strip() or \
            git("rev-parse", "HEAD").strip()
        changed = [line[3:].split(" -> ")[-1].strip('"') for line in
                   git("status", "--porcelain", "--untracked-files=no").splitlines()]
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    edits = [p for p in changed if not any(p == o or p.startswith(o.rstrip("/") + "/")
                                           for o in outputs)]
    return {"git_commit": commit, "git_dirty": "true" if edits else "false"}


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (params, input hashes)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _tags(variant: str, seed: int | None, stage: str, fingerprint_value: str) -> dict[str, str]:
    tags = {"variant": variant, "dvc_stage": stage, "fingerprint": fingerprint_value,
            "ganbench.host": socket.gethostname(), "ganbench.pid": str(os.getpid()),
            **git_state()}
    if seed is not None:
        tags["seed"] = str(seed)
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    return tags


def _flatten(params: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = "null" if value is None else value
    return out


# --------------------------------------------------------------------------- runs


class RunLog:
    """Logging into one started run that never raises: the first error marks the store down,
    later calls are skipped and listed; ``failed`` says whether anything was lost. Work that
    only tracking needs is not worth losing the stage's outputs for."""

    def __init__(self, run_id: str, uri: str):
        self.run_id, self.uri = run_id, uri
        self.error: str | None = None
        self.skipped: list[str] = []

    @property
    def failed(self) -> bool:
        return self.error is not None

    def call(self, what: str, fn: Callable[[], Any]) -> bool:
        """Run ``fn`` unless the store is down; True when it worked."""
        if self.error is not None:
            self.skipped.append(what)
            return False
        try:
            fn()
            return True
        except Exception as exc:  # noqa: BLE001 - any store failure, reported once
            self.error = describe(exc, with_type=True)
            self.skipped.append(what)
            print(f"ganbench: warning: MLflow store {self.uri} failed while logging {what} "
                  f"({self.error}); the stage goes on and writes its outputs, and stops "
                  "logging to MLflow", file=sys.stderr, flush=True)
            return False

    def report(self) -> None:
        if self.failed:
            shown = ", ".join(dict.fromkeys(self.skipped))
            print(f"ganbench: warning: not logged to MLflow run {self.run_id} at {self.uri}: "
                  f"{shown}; the run is marked FAILED where the store still answers (the DVC "
                  "outputs hold the same numbers)", file=sys.stderr, flush=True)


def runs_file(variant: str, seed: int, workspace: Path | None = None) -> Path:
    """Where a workspace keeps the id of a chain's current run (not a DVC output)."""
    return (workspace or Path.cwd()) / RUNS_DIR / f"{variant}-seed{seed}.json"


def close_abandoned_runs(client, experiment_id: str, variant: str, seed: int) -> list[str]:
    """Mark KILLED the runs of this chain left RUNNING by a process of this host that is gone
    (``kill -9``, a lost machine); returns their ids."""
    host = socket.gethostname()
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.variant = '{variant}' and tags.seed = '{seed}' "
        f"and attributes.status = 'RUNNING' and tags.`ganbench.host` = '{host}'",
        max_results=100)
    closed = []
    for run in runs:
        pid = run.data.tags.get("ganbench.pid", "")
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            client.set_terminated(run.info.run_id, status="KILLED")
            client.set_tag(run.info.run_id, "ganbench.end", "process gone (killed)")
            closed.append(run.info.run_id)
    return closed


def _end_status(exc: BaseException | None, log: RunLog) -> str:
    if isinstance(exc, (KeyboardInterrupt, Interrupted)):
        return "KILLED"
    if exc is not None or log.failed:
        return "FAILED"
    return "FINISHED"


@contextlib.contextmanager
def _active_run(run_id: str | None, *, create: dict | None = None) -> Iterator[RunLog]:
    """Open (``run_id``) or create (``create`` = start_run kwargs) a run; yield its RunLog;
    end it with the status the stage earned. Errors before the run exists are TrackingErrors."""
    import mlflow

    uri = tracking_uri()
    try:
        _configure()
        run = mlflow.start_run(run_id=run_id, **(create or {}))
    except Exception as exc:  # noqa: BLE001 - the store refused: one line, before the work
        raise TrackingError(f"MLflow tracking store {uri}: {describe(exc, with_type=True)}; "
                            f"{_what_to_do(uri)}") from None
    log = RunLog(run.info.run_id, uri)
    error: BaseException | None = None
    try:
        yield log
    except BaseException as exc:
        error = exc
        raise
    finally:
        status = _end_status(error, log)
        if status != "FINISHED":
            log.call("the run's end tag", lambda: mlflow.set_tag(
                "ganbench.end", "interrupted" if status == "KILLED" else
                "tracking incomplete" if error is None else describe(error, with_type=True)))
        log.report()
        try:
            mlflow.end_run(status)
        except Exception as exc:  # noqa: BLE001
            print(f"ganbench: warning: could not end MLflow run {log.run_id} at {uri} "
                  f"({describe(exc, with_type=True)}); it may show as RUNNING", file=sys.stderr)
            with contextlib.suppress(Exception):
                mlflow.tracking.fluent._active_run_stack.get().clear()


@contextlib.contextmanager
def start_variant_run(variant: str, seed: int, stage: str, fingerprint_value: str,
                      params: dict) -> Iterator[RunLog]:
    """Create the chain's MLflow run (train), after closing runs of the same chain that a
    killed process left RUNNING; record its id in ``runs_file(variant, seed)``."""
    import mlflow

    create = {"run_name": f"{variant} seed {seed}",
              "tags": _tags(variant, seed, stage, fingerprint_value)}
    with _active_run(None, create=create) as log:
        run = mlflow.active_run()
        log.call("closing abandoned runs", lambda: close_abandoned_runs(
            mlflow.tracking.MlflowClient(), run.info.experiment_id, variant, seed))
        log.call("params", lambda: mlflow.log_params({**_flatten(params), "seed": seed}))
        write_json(runs_file(variant, seed), {"run_id": run.info.run_id,
                                        "fingerprint": fingerprint_value,
                                        "tracking_uri": log.uri,
                                        "experiment_id": run.info.experiment_id})
        yield log


def find_variant_run(variant: str, seed: int, fingerprint_value: str) -> str | None:
    """The run that trained these weights: the workspace's side file when its fingerprint
    matches, else the newest run tagged with the variant and fingerprint, else None."""
    import mlflow

    path = runs_file(variant, seed)
    if path.is_file():
        with contextlib.suppress(ValueError, KeyError, OSError):
            entry = read_json(path)
            if entry["fingerprint"] == fingerprint_value and \
                    entry.get("tracking_uri") == tracking_uri():
                return str(entry["run_id"])
    _configure()
    experiment = mlflow.get_experiment_by_name(
        os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT))
    runs = mlflow.tracking.MlflowClient().search_runs(
        [experiment.experiment_id], filter_string=f"tags.variant = '{variant}' and "
        f"tags.fingerprint = '{fingerprint_value}' and tags.seed = '{seed}'",
        order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def group_variant_runs(variant: str, settings: dict, children: dict[int, tuple[str, dict, dict]],
                       summary: dict[str, float], data_id: str | None = None) -> str | None:
    """The variant's parent run, and its seeds' runs as its children.

    The parent is found by its tags (``kind = variant``, the variant, the fingerprint of its
    settings and data) or created; it gets the aggregate ``summary`` as metrics.
    ``children``: seed -> (training fingerprint, metrics, tags) of each chain: its run (found
    by ``find_variant_run``, or started tagged ``restored`` when none is found, e.g. for
    outputs pulled from a DVC remote) gets the chain's metrics and tags, each metric logged
    only when the run does not hold that value yet, and becomes the parent's child; the
    parent's tag ``seed_runs`` lists them (``<seed>:<run id>,...``). Returns the parent's id;
    a store that fails is a TrackingError.
    """
    import mlflow
    from mlflow.entities import Metric

    try:
        _configure()
        client = mlflow.tracking.MlflowClient()
        experiment = mlflow.get_experiment_by_name(
            os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT))
        stamp = fingerprint(variant, settings, data_id)
        found = client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.kind = 'variant' and "
            f"tags.variant = '{variant}' and tags.fingerprint = '{stamp}'", max_results=1)
        if found:
            parent = found[0].info.run_id
        else:
            tags = {"kind": "variant", "variant": variant, "fingerprint": stamp, **git_state()}
            parent = client.create_run(experiment.experiment_id, run_name=variant,
                                       tags=tags).info.run_id
            client.log_batch(parent, params=[mlflow.entities.Param(k, str(v)) for k, v in
                                             _flatten(settings).items()])
            client.set_terminated(parent, "FINISHED")
        now = int(time.time() * 1000)
        linked = {}
        for seed, (child_stamp, metrics, tags) in sorted(children.items()):
            run_id = find_variant_run(variant, seed, child_stamp)
            if run_id is None:
                run_id = client.create_run(
                    experiment.experiment_id, run_name=f"{variant} seed {seed}",
                    tags={**_tags(variant, seed, f"train@{variant}-{seed}", child_stamp),
                          "restored": "true"}).info.run_id
                client.set_terminated(run_id, "FINISHED")
            held = client.get_run(run_id).data.metrics
            fresh = [Metric(k, float(v), now, 0) for k, v in metrics.items()
                     if held.get(k) != float(v)]
            for start in range(0, len(fresh), 1000):  # MLflow's batch limit
                client.log_batch(run_id, metrics=fresh[start:start + 1000])
            for key, value in {**tags, "mlflow.parentRunId": parent}.items():
                client.set_tag(run_id, key, value)
            linked[seed] = run_id
        client.log_batch(parent, metrics=[Metric(k, float(v), now, 0)
                                          for k, v in summary.items()])
        client.set_tag(parent, "seeds", ",".join(map(str, sorted(children))))
        client.set_tag(parent, "seed_runs", ",".join(f"{s}:{r}" for s, r in linked.items()))
        return parent
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - the store failed: one line
        uri = tracking_uri()
        raise TrackingError(f"MLflow tracking store {uri}: {describe(exc, with_type=True)}")\
            from None


def run_links(parents: dict[str, str | None]) -> dict[str, dict]:
    """``{variant: {"parent": run id, "seeds": {seed: run id}}}`` from the parents' ``seed_runs``
    tags (``group_variant_runs``): what the comparison run links to."""
    import mlflow

    client = mlflow.tracking.MlflowClient()
    links = {}
    for variant, parent in parents.items():
        if not parent:
            continue
        pairs = client.get_run(parent).data.tags.get("seed_runs", "")
        links[variant] = {"parent": parent, "seeds": dict(
            pair.split(":", 1) for pair in pairs.split(",") if ":" in pair)}
    return links


@contextlib.contextmanager
def start_comparison_run(name: str, params: dict) -> Iterator[RunLog]:
    """The report stage's run: the comparison of all variants."""
    import mlflow

    tags = {"dvc_stage": "report", "kind": "comparison", **git_state()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    with _active_run(None, create={"run_name": name, "tags": tags}) as log:
        log.call("params", lambda: mlflow.log_params(_flatten(params)))
        yield log
