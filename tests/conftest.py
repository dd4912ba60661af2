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


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models train fastest on one intra-op thread, and do not fight the DVC subprocesses
    of the pipeline tests for the two cores (two spinning OpenMP threads on a busy 2-core CPU
    trained the judge 15x slower: 51 s against 3 s)."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
