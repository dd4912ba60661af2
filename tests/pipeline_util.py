"""Helpers for tests that run the real pipeline: a temporary git + DVC copy of the project,
`dvc` with MLflow at the copy's own default store, and which stages DVC ran."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from ganbench.smoke import copy_project, init_repo

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment, with MLflow at the repo's own default store (the
    stages resolve ``sqlite:///<repo>/mlflow.db``) and the venv's python first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME", "DVC_STAGE")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def dvc(repo: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run dvc in ``repo``; ``env`` adds variables (e.g. MLFLOW_TRACKING_URI)."""
    result = subprocess.run([DVC, *args], cwd=repo, env=clean_env(**env), capture_output=True,
                            text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def stages_run(output: str) -> set[str]:
    """The stages DVC ran, from its output, less `source`: that one fingerprints the raw data
    on every `dvc repro` by design (always_changed) and costs about a second."""
    ran = set(re.findall(r"Running stage '([^']+)'", output))
    return ran - {"source"}


def make_repo(path: Path, params: dict | str) -> Path:
    """A git repository holding the project's sources and ``params`` (a mapping, or YAML
    text written as it is)."""
    copy_project(ROOT, path)
    text = params if isinstance(params, str) else yaml.safe_dump(params, sort_keys=False)
    (path / "params.yaml").write_text(text)
    init_repo(path)
    return path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout
