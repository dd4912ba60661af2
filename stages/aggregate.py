"""DVC stage ``aggregate``: every chain's ``reports/metrics/<v>/seed<s>.json`` (the variants and
seeds of params.yaml; files of removed ones are ignored) -> ``reports/metrics.json`` (per
variant and metric: per-seed values, n, mean, std, 95% interval, evaluation noise, failures)
and ``reports/comparisons.json`` (every pair of variants, ranks with ties)."""

from ganbench import paths
from ganbench.aggregate import aggregate_variant, compare, ranking_sentences
from ganbench.config import load_section
from ganbench.io import write_json
from ganbench.results import aggregate_document, read_seed_result
from ganbench.stage import run_stage


def main() -> None:
    seeds = load_section("seeds")
    variants = load_section("variants")
    report = load_section("report")
    aggregates = {}
    for variant in variants:
        results = {seed: read_seed_result(
            paths.seed_metrics(variant, seed),
            f"run `dvc repro evaluate@{paths.chain_name(variant, seed)}` (it writes this file)")
            for seed in seeds}
        aggregates[variant] = aggregate_variant(variant, seeds, results)
    comparisons = compare(aggregates, report.primary_metric, report.translation_metric)
    write_json(paths.AGGREGATE_FILE, aggregate_document(aggregates), sort_keys=False)
    write_json(paths.COMPARISONS_FILE, comparisons, sort_keys=False)
    counts = {v: len(seeds) for v in aggregates}
    if any(agg.task == "generate" for agg in aggregates.values()):
        for line in ranking_sentences(comparisons["metrics"].get(report.primary_metric),
                                      report.primary_metric, counts):
            print(line)
    for task, group in comparisons["tasks"].items():
        for line in ranking_sentences(group["metrics"].get(report.translation_metric),
                                      report.translation_metric, counts):
            print(f"{task}: {line}")


if __name__ == "__main__":
    run_stage("aggregate", main, tracking=False)  # reads and writes JSON only
