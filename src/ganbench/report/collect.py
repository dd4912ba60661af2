"""Load the report's inputs: the aggregate and the comparisons over seeds, and for each variant
its representative seed's sample grid, interpolation strip and training log, plus the
real-data floor, the judge summary and provenance. Nothing here renders anything.

Files (docs/ARCHITECTURE.md): ``reports/metrics.json`` and ``reports/comparisons.json``
(required: the aggregate stage writes them), ``reports/judge.json``,
``data/reference/{floor,reference}.json``, ``samples/<v>/seed<s>/*.png``,
``models/<v>/seed<s>/train_log.tsv`` and ``models/<v>/seed<s>/weights/model.json``
(optional: the report says what is missing instead of failing).

The representative seed of a variant is fixed by a rule, not picked by eye: the seed whose
primary metric is the median of its seeds (the lower middle one for an even count), so the
grid shown is a typical run, neither the best nor the worst.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ganbench import paths
from ganbench.errors import InputError
from ganbench.results import (GENERATE, SeedResult, VariantAggregate, number, parse_aggregate,
                              parse_comparisons, read_json_strict, read_seed_result)

log = logging.getLogger(__name__)

FLOOR_FILE = paths.REFERENCE_DIR / "floor.json"
REFERENCE_FILE = paths.REFERENCE_DIR / "reference.json"
REPRESENTATIVE_RULE = ("the seed whose primary metric is the median of the variant's seeds "
                       "(lower middle for an even count)")


@dataclass
class VariantInputs:
    """Everything the report shows about one variant."""

    name: str
    settings: dict                      # the variant's params (validated, loss resolved)
    aggregate: VariantAggregate         # its entry of reports/metrics.json
    seed: int                           # the representative seed (REPRESENTATIVE_RULE)
    model: dict | None = None           # that seed's model.json
    fingerprints: dict[int, str] = field(default_factory=dict)  # seed -> training fingerprint
    results: dict[int, SeedResult] = field(default_factory=dict)  # seed -> its metrics file
    train_log: dict[str, list[float]] | None = None  # column -> values (nan where empty)
    grid_png: bytes | None = None
    interpolation_png: bytes | None = None
    class_sweep_png: bytes | None = None   # conditional variants: fixed z, every class
    style_mixing_png: bytes | None = None  # stylegan variants
    triplets_png: bytes | None = None      # translators: input | output | target (or cycle)
    missing: list[str] = field(default_factory=list)  # optional files that were not there

    @property
    def task(self) -> str:
        return self.aggregate.task

    @property
    def status(self) -> str:
        return "ok" if not self.aggregate.failures else "diverged"

    @property
    def diverged_seeds(self) -> list[int]:
        return [s for s, st in zip(self.aggregate.seeds, self.aggregate.statuses) if st != "ok"]


@dataclass
class ReportInputs:
    title: str
    primary_metric: str
    variants: list[VariantInputs]
    comparisons: dict
    floor: SeedResult | None = None     # data/reference/floor.json (pseudo-variant "real")
    judge: dict | None = None           # reports/judge.json
    reference: dict | None = None       # data/reference/reference.json
    data: dict = field(default_factory=dict)   # the data params (provenance)
    git: dict = field(default_factory=dict)    # tracking.git_state()
    task: str = GENERATE                       # what this section's variants do
    translations: list["ReportInputs"] = field(default_factory=list)  # a section per task

    @property
    def all_variants(self) -> list[VariantInputs]:
        """The generators and every translation section's variants."""
        return self.variants + [v for section in self.translations for v in section.variants]

    @property
    def backbones(self) -> list[str]:
        """Backbones that appear in any variant's metrics, in the order they first appear."""
        seen: list[str] = []
        for v in self.variants:
            for key in v.aggregate.metrics:
                if "." in key and key.rsplit(".", 1)[0] not in seen:
                    seen.append(key.rsplit(".", 1)[0])
        return seen

    @property
    def seed_counts(self) -> dict[str, int]:
        return {v.name: len(v.aggregate.seeds) for v in self.variants}


def _optional_json(path: Path) -> dict | None:
    if not path.is_file():
        log.warning("%s: missing; the report leaves it out", path)
        return None
    data = read_json_strict(path, "rerun the stage that writes it")
    return data if isinstance(data, dict) else None


def read_train_log(path: Path) -> dict[str, list[float]]:
    """The TSV training log as columns of floats; empty cells (not applicable) become nan."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    columns = list(rows[0]) if rows else []
    out: dict[str, list[float]] = {c: [] for c in columns}
    for row in rows:
        for c in columns:
            cell = (row.get(c) or "").strip()
            try:
                out[c].append(float(cell) if cell else math.nan)
            except ValueError:
                raise InputError(f"{path}: column {c!r} holds {cell!r}, not a number") from None
    return out


def representative_seed(aggregate: VariantAggregate, primary: str) -> int:
    """The seed of the median primary-metric value (lower middle), else the first seed."""
    summary = aggregate.metrics.get(primary)
    pairs = [(v, s) for v, s in zip(summary.values if summary else [], aggregate.seeds)
             if number(v) is not None]
    if not pairs:
        return aggregate.seeds[0]
    pairs.sort()
    return pairs[(len(pairs) - 1) // 2][1]


def load_variant(root: Path, name: str, settings: Mapping, aggregate: VariantAggregate,
                 primary: str) -> VariantInputs:
    seed = representative_seed(aggregate, primary)
    item = VariantInputs(name=name, settings=dict(settings), aggregate=aggregate, seed=seed)
    model = root / paths.weights_dir(name, seed) / "model.json"
    samples = root / paths.samples_dir(name, seed)
    grid, strip = samples / "grid.png", samples / "interpolation.png"
    triplets = samples / "triplets.png"
    figures = (grid, strip) if aggregate.task == GENERATE else (triplets,)
    train_log = root / paths.train_log(name, seed)
    for path in (model, *figures, train_log):
        if not path.is_file():
            item.missing.append(str(path.relative_to(root)))
    if model.is_file():
        item.model = read_json_strict(model, f"rerun dvc repro "
                                           f"train@{paths.chain_name(name, seed)}")
    for other in aggregate.seeds:  # every seed's training fingerprint and metrics (MLflow)
        path = root / paths.weights_dir(name, other) / "model.json"
        if path.is_file():
            stamp = read_json_strict(path, "rerun its train stage").get("fingerprint")
            if stamp:
                item.fingerprints[other] = str(stamp)
        metrics = root / paths.seed_metrics(name, other)
        if metrics.is_file():
            item.results[other] = read_seed_result(
                metrics, f"rerun dvc repro evaluate@{paths.chain_name(name, other)}")
    item.triplets_png = triplets.read_bytes() if triplets.is_file() else None
    item.grid_png = grid.read_bytes() if grid.is_file() else None
    item.interpolation_png = strip.read_bytes() if strip.is_file() else None
    sweep = samples / "class_sweep.png"
    if aggregate.conditional and not sweep.is_file():
        item.missing.append(str(sweep.relative_to(root)))
    item.class_sweep_png = sweep.read_bytes() if sweep.is_file() else None
    mixing = samples / "style_mixing.png"
    item.style_mixing_png = mixing.read_bytes() if mixing.is_file() else None
    item.train_log = read_train_log(train_log) if train_log.is_file() else None
    return item


def load_inputs(root: str | Path, report, variants: Mapping[str, Mapping],
                data: Mapping | None = None, git: Mapping | None = None) -> ReportInputs:
    """Read every input under ``root`` for ``variants`` (name -> settings, params order).

    ``report`` is a ``ReportParams``; ``data`` the data params (provenance only).
    """
    root = Path(root)
    hint = "run `dvc repro aggregate` (it writes this file)"
    aggregate_path = root / paths.AGGREGATE_FILE
    aggregates = parse_aggregate(read_json_strict(aggregate_path, hint), str(aggregate_path))
    missing = [name for name in variants if name not in aggregates]
    if missing:
        raise InputError(f"{aggregate_path}: has no entry for {', '.join(missing)}; {hint}")
    comparisons_path = root / paths.COMPARISONS_FILE
    comparisons = parse_comparisons(read_json_strict(comparisons_path, hint),
                                    str(comparisons_path))
    tasks: dict[str, list[VariantInputs]] = {}
    for name, settings in variants.items():
        task = aggregates[name].task
        primary = report.primary_metric if task == GENERATE else report.translation_metric
        tasks.setdefault(task, []).append(load_variant(root, name, settings, aggregates[name],
                                                       primary))
    floor = _optional_json(root / FLOOR_FILE)
    common = dict(judge=_optional_json(root / paths.JUDGE_REPORT),
                  reference=_optional_json(root / REFERENCE_FILE),
                  data=dict(data or {}), git=dict(git or {}))
    sections = []
    for task, members in tasks.items():
        if task == GENERATE:
            continue
        group = comparisons.get("tasks", {}).get(task)
        if group is None:
            raise InputError(f"{comparisons_path}: has no comparisons for task {task!r}; {hint}")
        sections.append(ReportInputs(title=f"Translation: {task}",
                                     primary_metric=report.translation_metric,
                                     variants=members, comparisons=group, task=task, **common))
    return ReportInputs(title=report.title, primary_metric=report.primary_metric,
                        variants=tasks.get(GENERATE, []), comparisons=comparisons,
                        floor=SeedResult.from_json(floor, str(root / FLOOR_FILE))
                        if floor else None, translations=sections, **common)

