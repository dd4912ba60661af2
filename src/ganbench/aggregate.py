"""Over training seeds: each variant's aggregate, the pairwise comparisons and the ranking.

``aggregate_variant`` turns a variant's per-seed results (``SeedResult``) into a
``VariantAggregate``: per metric the per-seed values, n, mean, std (ddof=1) and the 95%
interval of ``ganbench.stats.mean_interval``, and the evaluation noise pooled over seeds
(root mean square of the per-seed stds over latent draws). Diverged seeds stay in: their
metrics were measured on their last finite weights, and they are counted as failures.

``compare`` gives, for each metric, every pair of variants of the same task (the generators;
each translation task apart): the difference of means with its Welch interval, the
probability of improvement and a verdict, and ranks with ties (``ganbench.stats``). ``ranking_sentences`` says the outcome in words for summary.md.
"""

from __future__ import annotations

import math
from itertools import combinations

from ganbench import stats
from ganbench.results import (GENERATE, MetricSummary, SeedResult, VariantAggregate, direction,
                              metric)

INTERVAL_OVER = "training seeds"


def aggregate_variant(variant: str, seeds: list[int],
                      results: dict[int, SeedResult]) -> VariantAggregate:
    """The aggregate of one variant from ``results[seed]`` for every seed in ``seeds``."""
    ordered = [results[s] for s in seeds]
    names: list[str] = []
    for result in ordered:
        names += [k for k in result.flat() if k not in names]
    metrics = {}
    for name in names:
        values = [result.flat().get(name) for result in ordered]
        present = [v for v in values if v is not None]
        summary = MetricSummary(values=values, n=len(present), mean=None, std=None,
                                ci_low=None, ci_high=None)
        if present:
            interval = stats.mean_interval(present)
            summary.mean, summary.std = interval.estimate, stats.std(present)
            summary.ci_low, summary.ci_high = interval.low, interval.high
            summary.method = interval.method
        noise = [r.eval_noise.std[name] for r in ordered
                 if r.eval_noise and name in r.eval_noise.std]
        if noise:
            summary.eval_std = math.sqrt(sum(s * s for s in noise) / len(noise))
        metrics[name] = summary
    statuses = [r.status for r in ordered]
    failures = sum(status != "ok" for status in statuses)
    first = ordered[0]
    method = stats.interval_method(len(seeds))
    provenance = {
        "samples": first.samples, "reference": first.reference,
        "train": {"steps": [r.train.get("steps") if r.train else None for r in ordered],
                  "device": first.train.get("device") if first.train else None},
        "backbones": {name: {k: getattr(entry, k) for k in (
            "version", "feature_dim", "n_generated", "n_real", "seed", "kid_subsets",
            "kid_subset_size", "is_splits", "is_reason", "prdc_k")}
            for name, entry in first.backbones.items()},
        "tstr": ({k: getattr(first.tstr, k) for k in ("classifier", "trtr_accuracy",
                                                       "n_train", "n_test", "seed")}
                 if first.tstr else None),
        "tstr_reason": first.tstr_reason,
        "eval_noise": ({"draws": first.eval_noise.draws,
                        "latent_seeds": first.eval_noise.latent_seeds}
                       if first.eval_noise else None),
        "diverged_steps": {str(s): r.diverged_step for s, r in zip(seeds, ordered)
                           if r.diverged_step is not None},
    }
    if first.translation is not None:
        provenance["translation"] = {k: getattr(first.translation, k) for k in (
            "task", "paired", "n", "classifier", "ssim_window", "psnr_cap")}
    return VariantAggregate(
        variant=variant, conditional=first.conditional, arch=first.arch, loss=first.loss,
        seeds=list(seeds), statuses=statuses, failures=failures,
        failure_rate=failures / len(seeds),
        interval={"level": stats.LEVEL, "method": method, "over": INTERVAL_OVER},
        metrics=metrics, provenance=provenance, task=first.task)


def compare_metric(aggregates: dict[str, VariantAggregate], name: str) -> dict | None:
    """Every pair of variants on one metric, and the ranks with ties; None when no variant
    has a value (a variant alone ranks first)."""
    sign = direction(name)
    have = {v: agg.values(name) for v, agg in aggregates.items() if agg.values(name)}
    if not have or not sign:
        return None
    pairs, beats = [], {v: set() for v in have}
    for a, b in combinations(have, 2):
        diff = stats.difference_interval(have[a], have[b])
        verdict = stats.verdict(diff, sign)
        if verdict == stats.BETTER:
            beats[a].add(b)
        elif verdict == stats.WORSE:
            beats[b].add(a)
        pairs.append({"a": a, "b": b, "difference": diff.estimate, "ci_low": diff.low,
                      "ci_high": diff.high,
                      "p_improvement": stats.probability_of_improvement(have[a], have[b], sign),
                      "verdict": verdict})
    means = {v: sum(x) / len(x) for v, x in have.items()}
    ranks = stats.ranks(beats)
    order = sorted(have, key=lambda v: (ranks[v], -sign * means[v]))
    return {"direction": sign, "n": {v: len(x) for v, x in have.items()},
            "ranks": {v: ranks[v] for v in order}, "beats": {v: sorted(beats[v]) for v in order},
            "pairs": pairs}


def compare_group(aggregates: dict[str, VariantAggregate], primary: str) -> dict:
    """The comparisons of one group of variants: the primary metric first, then every metric
    with a direction that any of them has, each with its pairs and ranks."""
    names = [primary]
    for agg in aggregates.values():
        names += [k for k in agg.metrics if k not in names and direction(k)]
    compared = {name: compare_metric(aggregates, name) for name in names}
    return {"primary": primary, "metrics": {k: v for k, v in compared.items() if v is not None}}


def compare(aggregates: dict[str, VariantAggregate], primary: str,
            translation_primary: str | None = None) -> dict:
    """``reports/comparisons.json``. Variants are compared only with variants of their own
    task: the generators (``metrics``, ranked by ``primary``), and each translation task
    apart (``tasks.<task>``, ranked by ``translation_primary``): a translation is not a
    sample from noise, and two tasks have different targets."""
    groups: dict[str, dict[str, VariantAggregate]] = {}
    for name, agg in aggregates.items():
        groups.setdefault(agg.task, {})[name] = agg
    out = {"level": stats.LEVEL, "method": stats.WELCH_METHOD,
           "multiple_comparisons": "not corrected",
           **compare_group(groups.pop(GENERATE, {}), primary)}
    out["tasks"] = {task: compare_group(members, translation_primary or primary)
                    for task, members in groups.items()}
    return out


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def ranking_sentences(comparison: dict | None, name: str, seeds: dict[str, int]) -> list[str]:
    """The outcome on one metric in words: who cannot be told apart, who beats whom."""
    label = f"{name.rsplit('.', 1)[0]} {metric(name).label}" if "." in name else \
        metric(name).label
    counts = sorted(set(seeds.values()))
    at = f"{counts[0]} seeds" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} seeds"
    if comparison is None:
        return [f"No ranking on {label}: fewer than two variants have it."]
    if len(comparison["ranks"]) < 2:
        only = next(iter(comparison["ranks"]), "one variant")
        return [f"Only {only} has {label} here: there is nothing to compare it with."]
    if min(seeds.values()) < 2:
        return [f"No variant can be told apart on {label}: with a single seed there is no "
                "measure of seed noise, so no claim is made (add seeds)."]
    ranks, beats = comparison["ranks"], comparison["beats"]
    groups: dict[int, list[str]] = {}
    for variant, rank in ranks.items():
        groups.setdefault(rank, []).append(variant)
    out = []
    if not any(beats.values()):
        return [f"No two variants can be told apart on {label} at {at}: every difference is "
                "within seed noise."]
    for rank, members in groups.items():
        beaten = [sorted(beats[v]) for v in members]
        if len(members) > 1:
            within = any(set(b) & set(members) for b in beaten)
            text = (f"{_and(members)} share rank {rank} on {label} at {at}" if within else
                    f"{_and(members)} are indistinguishable on {label} at {at}")
            if not within and all(b == beaten[0] for b in beaten) and beaten[0]:
                both = "both" if len(members) == 2 else "all"
                text += f"; {both} beat {_and(beaten[0])}"
                out.append(text + ".")
                continue
            out.append(text + ".")
        for variant, lost in zip(members, beaten):
            if lost:
                out.append(f"{variant} beats {_and(lost)} on {label}.")
    return out

