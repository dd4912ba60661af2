"""The comparison report over seeds: ``reports/summary.md`` (PR comment),
``reports/index.html`` (self-contained page) and ``reports/figures/*.{png,svg}``, from the
aggregate stage's ``reports/metrics.json`` and ``reports/comparisons.json``.

    inputs = load_inputs(root, report_params, {name: settings, ...}, data=..., git=...)
    build_report(inputs, root / "reports")
    log_to_mlflow(inputs, root / "reports", params)   # parents per variant + comparison run

Modules: ``collect`` (read inputs), ``table`` (ranking, matrix, words, provenance),
``summary`` (Markdown), ``figures`` (matplotlib), ``html`` + ``style`` (the page).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ganbench.io import atomic_dir, atomic_file
from ganbench.report.collect import ReportInputs, VariantInputs, load_inputs

__all__ = ["ReportInputs", "VariantInputs", "load_inputs", "build_report", "log_to_mlflow"]
log = logging.getLogger(__name__)


def build_report(inputs: ReportInputs, out_dir: str | Path) -> list[Path]:
    """Write summary.md, index.html and figures/ under ``out_dir``."""
    from ganbench.report.figures import render_figures  # matplotlib only when rendering
    from ganbench.report.html import render_html
    from ganbench.report.summary import render_summary

    out_dir = Path(out_dir)
    figures = render_figures(inputs)
    with atomic_dir(out_dir / "figures") as tmp:
        for fig in figures.all():
            (tmp / f"{fig.stem}.png").write_bytes(fig.png)
            (tmp / f"{fig.stem}.svg").write_bytes(fig.svg)
    texts = {"summary.md": render_summary(inputs),
             "index.html": render_html(inputs, figures)}
    written = []
    for name, text in texts.items():
        with atomic_file(out_dir / name, "w") as handle:
            handle.write(text)
        written.append(out_dir / name)
    log.info("wrote %s and %d figures", ", ".join(map(str, written)), len(figures.all()))
    return written + [out_dir / "figures"]


def log_to_mlflow(inputs: ReportInputs, out_dir: str | Path, params: dict) -> str | None:
    """Give each chain's run its metrics and tags, group each variant's seed runs under a
    parent run holding its aggregate (``tracking.group_variant_runs``), then log the
    comparison run: the report files,
    figures, every variant's means as ``<variant>.<metric>``, and ``runs.json`` linking every
    variant's parent run and each seed's run (``tracking.run_links``). Returns the comparison
    run's id, or None when the store failed (after the report was written: it is kept)."""
    import mlflow

    from ganbench.errors import TrackingError
    from ganbench.tracking import group_variant_runs, run_links, start_comparison_run

    out_dir = Path(out_dir)
    try:
        children = {}
        for v in inputs.all_variants:
            summary = {f"{k}.{stat}": value for k, m in v.aggregate.metrics.items()
                       for stat, value in (("mean", m.mean), ("std", m.std),
                                           ("ci_low", m.ci_low), ("ci_high", m.ci_high),
                                           ("eval_std", m.eval_std)) if value is not None}
            summary["failure_rate"] = v.aggregate.failure_rate
            seeds = {seed: (stamp, v.results[seed].tracked_metrics(),
                            v.results[seed].tracked_tags())
                     for seed, stamp in v.fingerprints.items() if seed in v.results}
            children[v.name] = group_variant_runs(
                v.name, v.settings, seeds, summary,
                (inputs.reference or {}).get("prepared_sha256"))
        with start_comparison_run("comparison", params) as run_log:
            def artifacts() -> None:
                for name in ("metrics.json", "comparisons.json", "summary.md", "index.html"):
                    if (out_dir / name).is_file():
                        mlflow.log_artifact(str(out_dir / name))
                if (out_dir / "figures").is_dir():
                    mlflow.log_artifacts(str(out_dir / "figures"), "figures")
            run_log.call("the report files", artifacts)
            means = {f"{v.name}.{k}": m.mean for v in inputs.all_variants
                     for k, m in v.aggregate.metrics.items() if m.mean is not None}
            run_log.call("metrics", lambda: mlflow.log_metrics(means))
            run_log.call("tags", lambda: mlflow.set_tags({
                "primary_metric": inputs.primary_metric,
                "variants": ",".join(v.name for v in inputs.all_variants),
                "variant_runs": ",".join(f"{name}:{parent}" for name, parent in
                                         children.items() if parent)}))
            run_log.call("the run links", lambda: mlflow.log_dict(run_links(children),
                                                                  "runs.json"))
            return run_log.run_id
    except TrackingError as exc:
        log.warning("the MLflow runs were not grouped or logged (%s); the report is written",
                    exc)
        return None
