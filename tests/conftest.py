"""Test-wide safety: MLflow never writes to the repository's own database."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def isolated_mlflow(tmp_path_factory):
    """Point MLflow at a throw-away SQLite store for the whole session (tests may override)."""
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}"
    os.environ.pop("DVC_ROOT", None)
    os.environ.pop("DVC_EXP_NAME", None)
    yield store
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
