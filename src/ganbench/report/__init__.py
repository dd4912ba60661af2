"""The comparison report: ``reports/metrics.json`` (DVC metrics), ``reports/summary.md`` (PR
comment), ``reports/index.html`` (self-contained page) and ``reports/figures/*.{png,svg}``.

    inputs = load_inputs(root, report_params, {name: settings, ...}, data=..., git=...)
    build_report(inputs, root / "reports")
    log_comparison(inputs, root / "reports", params)   # MLflow comparison run

Modules: ``collect`` (read inputs), ``table`` (ranking, footnotes, provenance), ``summary``
(Markdown), ``figures`` (matplotlib), ``html`` + ``style`` (the page).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from ganbench.io import atomic_dir, atomic_file
from ganbench.report.collect import (ReportInputs, VariantInputs, direction, flat_metrics,
                                     load_inputs)

__all__ = ["ReportInputs", "VariantInputs", "load_inputs", "build_report", "log_comparison",
           "metrics_document", "flat_metrics", "direction"]
log = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    """Nested dict keys sorted (stable bytes); non-finite floats become null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def metrics_document(inputs: ReportInputs) -> dict:
    """``{variant: metrics}`` for the variants in params, in params order."""
    return {v.name: _clean(v.metrics) for v in inputs.variants}


def build_report(inputs: ReportInputs, out_dir: str | Path) -> list[Path]:
    """Write metrics.json, summary.md, index.html and figures/ under ``out_dir``."""
    from ganbench.report.figures import render_figures  # matplotlib only when rendering
    from ganbench.report.html import render_html
    from ganbench.report.summary import render_summary

    out_dir = Path(out_dir)
    figures = render_figures(inputs)
    with atomic_dir(out_dir / "figures") as tmp:
        for fig in figures.all():
            (tmp / f"{fig.stem}.png").write_bytes(fig.png)
            (tmp / f"{fig.stem}.svg").write_bytes(fig.svg)
    texts = {"metrics.json": json.dumps(metrics_document(inputs), indent=2, allow_nan=False)
             + "\n",
             "summary.md": render_summary(inputs),
             "index.html": render_html(inputs, figures)}
    written = []
    for name, text in texts.items():
        with atomic_file(out_dir / name, "w") as handle:
            handle.write(text)
        written.append(out_dir / name)
    log.info("wrote %s and %d figures", ", ".join(map(str, written)), len(figures.all()))
    return written + [out_dir / "figures"]


def log_comparison(inputs: ReportInputs, out_dir: str | Path, params: dict) -> str | None:
    """The MLflow comparison run: metrics.json, summary.md, index.html, figures, metrics as
    ``<variant>.<backbone>.<metric>`` (and ``<variant>.tstr_accuracy``). Returns the run id,
    or None when the store failed (after the report was written: it is kept)."""
    import mlflow

    from ganbench.errors import TrackingError
    from ganbench.tracking import start_comparison_run

    out_dir = Path(out_dir)
    metrics = {f"{v.name}.{key}": float(value) for v in inputs.variants
               for key, value in flat_metrics(v.metrics).items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)
               and math.isfinite(value)}
    try:
        with start_comparison_run("comparison", params) as run_log:
            def artifacts() -> None:
                for name in ("metrics.json", "summary.md", "index.html"):
                    mlflow.log_artifact(str(out_dir / name))
                if (out_dir / "figures").is_dir():
                    mlflow.log_artifacts(str(out_dir / "figures"), "figures")
            run_log.call("the report files", artifacts)
            run_log.call("metrics", lambda: mlflow.log_metrics(metrics))
            run_log.call("tags", lambda: mlflow.set_tags({
                "primary_metric": inputs.primary_metric,
                "variants": ",".join(v.name for v in inputs.variants)}))
            return run_log.run_id
    except TrackingError as exc:
        log.warning("comparison run not logged to MLflow (%s); the report is written", exc)
        return None
