"""DVC stage ``evaluate@<variant>``: params ``eval``, ``judge``, ``variants.<v>`` ->
``reports/metrics/<v>.json``, and the same numbers in the variant's MLflow run."""

from pathlib import Path

from ganbench.config import load_section
from ganbench.data.prepared import PREPARED_DIR, load_prepared
from ganbench.device import pick_device
from ganbench.evaluation import (JUDGE_DIR, REFERENCE_DIR, evaluate_variant,
                                 load_variant_inputs, log_to_mlflow, summary_line,
                                 write_metrics)
from ganbench.stage import run_stage, stage_target


def main() -> None:
    variant = stage_target("evaluate")
    eval_params = load_section("eval")
    judge_params = load_section("judge")
    cfg = load_section(f"variants.{variant}")
    weights = Path("models") / variant / "weights"
    inputs = load_variant_inputs(variant, Path("samples") / variant, weights)
    prepared = load_prepared(Path(PREPARED_DIR))
    metrics = evaluate_variant(variant, eval_params, judge_params, cfg.conditional, inputs,
                               prepared, REFERENCE_DIR, JUDGE_DIR,
                               pick_device(eval_params.device), pick_device(judge_params.device))
    out = Path("reports") / "metrics" / f"{variant}.json"
    write_metrics(metrics, out)
    log_to_mlflow(metrics, out, inputs.model, f"evaluate@{variant}")
    print(summary_line(metrics))


if __name__ == "__main__":
    run_stage("evaluate", main)
