"""DVC stage ``evaluate@<variant>-<seed>``: params ``eval``, ``judge``, ``variants.<v>``,
``sample.n_samples``/``sample.seed`` -> ``reports/metrics/<v>/seed<s>.json`` (with
``ssl_accuracy`` and its supervised baseline for a semi_supervised variant). The report
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
    if cfg.is_translation:  # scored against its targets, no latent draws
        from ganbench.translation import evaluate_translation, read_translations

        translations = read_translations(paths.samples_dir(variant, seed), len(inputs.images),
                                         bool(inputs.samples.get("paired")), chain)
        result = evaluate_translation(variant, eval_params, inputs, translations, prepared,
                                      paths.REFERENCE_DIR, paths.JUDGE_DIR, device)
        write_metrics(result, paths.seed_metrics(variant, seed))
        print(summary_line(result, f"evaluate@{chain}"))
        return
    draws = []
    if eval_params.noise_draws > 1:  # further latent draws: the evaluation noise
        from ganbench.sampling import generate, load_generator

        psi = inputs.samples.get("truncation_psi")  # as the sample stage drew the samples
        generator, info = load_generator(weights, device,
                                         truncation_psi=1.0 if psi is None else psi)
        draws = [(sample_params.seed + k,
                  generate(generator, info, sample_params.n_samples, sample_params.seed + k,
                           device)[0]) for k in range(1, eval_params.noise_draws)]
    result = evaluate_variant(variant, eval_params, judge_params, cfg.conditional, inputs,
                              prepared, paths.REFERENCE_DIR, paths.JUDGE_DIR, device,
                              pick_device(judge_params.device), noise_draws=draws)
    if cfg.semi_supervised:  # the K+1 classifier against its supervised baseline
        from ganbench.semi_supervised import ssl_result

        result.ssl = ssl_result(weights, prepared, judge_params, eval_params.seed,
                                pick_device(judge_params.device))
    out = paths.seed_metrics(variant, seed)
    write_metrics(result, out)
    print(summary_line(result, f"evaluate@{chain}"))


if __name__ == "__main__":
    run_stage("evaluate", main)
