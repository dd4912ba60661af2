"""DVC stage ``evaluate@<variant>-<seed>``: params ``eval``, ``judge``, ``variants.<v>``,
``sample.n_samples``/``sample.seed`` -> ``reports/metrics/<v>/seed<s>.json``. The report
stage copies the numbers into the chain's MLflow run (one MLflow process for all chains,
instead of a 3-second MLflow start-up per chain)."""

from ganbench import paths
from ganbench.config import load_section
from ganbench.data.prepared import load_prepared
from ganbench.device import pick_device
from ganbench.evaluation import (evaluate_variant, load_variant_inputs, summary_line,
                                 write_metrics)
from ganbench.stage import run_stage, stage_target


def main() -> None:
    variant, seed = stage_target("evaluate")
    chain = paths.chain_name(variant, seed)
    eval_params = load_section("eval")
    judge_params = load_section("judge")
    sample_params = load_section("sample")
    cfg = load_section(f"variants.{variant}")
    weights = paths.weights_dir(variant, seed)
    inputs = load_variant_inputs(chain, paths.samples_dir(variant, seed), weights)
    prepared = load_prepared(paths.PREPARED_DIR)
    device = pick_device(eval_params.device)
    draws = []
    if eval_params.noise_draws > 1:  # further latent draws: the evaluation noise
        from ganbench.sampling import generate, load_generator

        generator, info = load_generator(weights, device)
        draws = [(sample_params.seed + k,
                  generate(generator, info, sample_params.n_samples, sample_params.seed + k,
                           device)[0]) for k in range(1, eval_params.noise_draws)]
    result = evaluate_variant(variant, eval_params, judge_params, cfg.conditional, inputs,
                              prepared, paths.REFERENCE_DIR, paths.JUDGE_DIR, device,
                              pick_device(judge_params.device), noise_draws=draws)
    out = paths.seed_metrics(variant, seed)
    write_metrics(result, out)
    print(summary_line(result, f"evaluate@{chain}"))


if __name__ == "__main__":
    run_stage("evaluate", main)
