"""Per-step training metrics sent to MLflow in batches (one SQLite transaction per flush)."""

from __future__ import annotations

import math
import time

from ganbench.tracking import RunLog


class MetricBuffer:
    """Collects ``(metrics, step)`` calls and logs them with ``log_batch`` every ``size`` values.

    Logging goes through the run's ``RunLog``: when the store fails, what was not logged is
    listed there (with its count), and training goes on.
    """

    def __init__(self, log: RunLog, size: int = 500):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        self.log = log
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
        batch, self.pending = self.pending, []
        if not batch:
            return

        def send() -> None:
            for start in range(0, len(batch), 1000):  # MLflow's batch limit
                self.client.log_batch(self.log.run_id, metrics=batch[start:start + 1000])

        self.log.call(f"{len(batch)} per-step training values", send)
