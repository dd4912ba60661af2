"""Per-step training metrics sent to MLflow in batches (one SQLite transaction per flush)."""

from __future__ import annotations

import math
import time


class MetricBuffer:
    """Collects ``(metrics, step)`` calls and logs them with ``log_batch`` every ``size`` values."""

    def __init__(self, run_id: str, size: int = 500):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        self.run_id = run_id
        self.size = size
        self.pending: list = []

    def add(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(key, float(value), now, step) for key, value in metrics.items()
                         if value is not None and math.isfinite(value)]
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        for start in range(0, len(self.pending), 1000):  # MLflow's batch limit
            self.client.log_batch(self.run_id, metrics=self.pending[start:start + 1000])
        self.pending = []
