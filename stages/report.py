"""DVC stage ``report``: from the aggregate over seeds, write summary.md, index.html and
figures/; in MLflow, group each variant's seed runs under a parent and log the comparison run.

Usage: ``python stages/report.py`` (from the repository root, as dvc.yaml runs it).
"""

from __future__ import annotations

from pathlib import Path

from ganbench.config import as_dict, load_section
from ganbench.stage import run_stage


def main() -> None:
    report = load_section("report")
    variants = load_section("variants")
    data = load_section("data")  # provenance only (dataset name and image shape)

    from ganbench.report import build_report, load_inputs, log_to_mlflow
    from ganbench.tracking import git_state

    settings = {name: {**as_dict(p), "loss": p.objective} for name, p in variants.items()}
    root = Path.cwd()
    inputs = load_inputs(root, report, settings, data=as_dict(data), git=git_state(root))
    build_report(inputs, root / "reports")
    log_to_mlflow(inputs, root / "reports", {"report": as_dict(report), "variants": settings})


if __name__ == "__main__":
    run_stage("report", main)
