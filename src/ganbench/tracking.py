"""MLflow tracking: one run per variant, reopened by the later stages of that variant.

Default store: ``sqlite:///<DVC root>/mlflow.db`` with artifacts in ``<DVC root>/mlartifacts``,
both absolute. ``DVC_ROOT`` (set by DVC inside ``dvc exp run --queue``/``--temp`` workspaces)
wins over the current folder, so queued experiments log into the user's database instead of
a throw-away copy. ``MLFLOW_TRACKING_URI`` overrides the store (a team server);
``MLFLOW_EXPERIMENT_NAME`` overrides the experiment (default ``ganbench``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

from ganbench.io import read_json, write_json

RUN_FILE = "mlflow_run.json"
DEFAULT_EXPERIMENT = "ganbench"

# MLflow and alembic are chatty at INFO on every SQLite open.
for _name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent"):
    logging.getLogger(_name).setLevel(logging.WARNING)


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


def _configure() -> None:
    import mlflow

    root = project_root()
    mlflow.set_tracking_uri(tracking_uri(root))
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
    if mlflow.get_experiment_by_name(name) is None:
        location = None
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            location = (root / "mlartifacts").as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


def git_state(root: Path | None = None) -> dict[str, str]:
    """Commit and dirty flag of the repository (``unknown`` outside git)."""
    root = root or project_root()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = "true" if git("status", "--porcelain", "--untracked-files=no") else "false"
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": dirty}


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (params, input hashes)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _tags(variant: str, stage: str, fingerprint_value: str) -> dict[str, str]:
    tags = {"variant": variant, "dvc_stage": stage, "fingerprint": fingerprint_value,
            **git_state()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    return tags


@contextlib.contextmanager
def start_variant_run(variant: str, stage: str, fingerprint_value: str, params: dict,
                      run_file: Path) -> Iterator[Any]:
    """Create the variant's MLflow run, record its id in ``run_file``, and make it active."""
    import mlflow

    _configure()
    with mlflow.start_run(run_name=variant, tags=_tags(variant, stage, fingerprint_value)) as run:
        mlflow.log_params(_flatten(params))
        write_json(run_file, {"run_id": run.info.run_id, "tracking_uri": mlflow.get_tracking_uri(),
                              "experiment_id": run.info.experiment_id})
        yield run


@contextlib.contextmanager
def resume_variant_run(weights_dir: str | Path, stage: str) -> Iterator[Any]:
    """Reopen the run that training created (id in ``<weights_dir>/mlflow_run.json``)."""
    import mlflow

    run_file = Path(weights_dir) / RUN_FILE
    if not run_file.is_file():
        from ganbench.errors import InputError
        raise InputError(f"{run_file}: missing; the train stage writes it (rerun dvc repro)")
    run_id = read_json(run_file)["run_id"]
    _configure()
    with mlflow.start_run(run_id=run_id) as run:
        # MLflow tag keys may not contain "@": "evaluate@cgan" -> "dvc_stage.evaluate"
        mlflow.set_tag(f"dvc_stage.{stage.split('@')[0]}", stage)
        yield run


@contextlib.contextmanager
def start_comparison_run(name: str, params: dict) -> Iterator[Any]:
    """The report stage's run: the comparison of all variants."""
    import mlflow

    _configure()
    tags = {"dvc_stage": "report", "kind": "comparison", **git_state()}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    with mlflow.start_run(run_name=name, tags=tags) as run:
        mlflow.log_params(_flatten(params))
        yield run


def _flatten(params: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = "null" if value is None else value
    return out
