"""What the report says, independent of Markdown or HTML: the ranked table (mean and 95%
interval over seeds per metric, ranks with ties), the pairwise matrix of the primary metric,
the ranking in words, the settings matrix and the provenance facts.

Cells hold plain text; the renderers add bold, arrows and escaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganbench import __version__, stats
from ganbench.config import TASKS
from ganbench.aggregate import ranking_sentences
from ganbench.report.collect import REPRESENTATIVE_RULE, ReportInputs
from ganbench.results import (BACKBONE_METRICS, GENERATE, MODE_METRICS, SSL_METRICS,
                              TRANSLATION_METRICS, VARIANT_METRICS, direction, fmt, metric,
                              number)

SUMMARY_METRICS = ("fid", "kid_mean", "is_mean", "precision", "recall")
TRANSLATION_BACKBONE_METRICS = ("fid", "kid_mean", "precision", "recall")
ARROWS = {-1: "↓", 1: "↑", 0: ""}
CHECKPOINT_RULE = ("final weights (the EMA generator when `ema` is set), fixed before any "
                   "metric is seen; never the best checkpoint on the test split")
DIVERGED_NOTE = ("⚠ diverged: a seed's training hit non-finite values; it was sampled and "
                 "evaluated from its last finite weights and counts in the mean and the "
                 "failure rate (never dropped)")
FLOOR_NOTE = ("real: held-out real train images scored like a variant (one evaluation), the "
              "floor a perfect generator would reach at these sample counts (not ranked)")
BOLD_NOTE = ("bold: the top-ranked variants of a column, where they beat at least one other "
             "variant by more than the seed noise")


@dataclass(frozen=True)
class Column:
    key: str            # flat metric name: "judge.fid", "tstr_accuracy", or "trtr_accuracy"
    group: str          # backbone name, or one of VARIANT_GROUPS

    @property
    def is_backbone(self) -> bool:
        return self.group not in VARIANT_GROUPS
    label: str
    direction: int      # +1 higher is better, -1 lower is better, 0 not compared

    @property
    def header(self) -> str:
        return f"{self.label} {ARROWS[self.direction]}".strip()


@dataclass
class Cell:
    text: str                 # "58.30", or "—"
    value: float | None       # the mean
    interval: str | None = None  # "± 12.10" (symmetric) or "[40.1, 76.2]"
    values: list = field(default_factory=list)  # per seed
    best: bool = False
    note: int | None = None   # footnote number


@dataclass
class Row:
    name: str
    cells: list[Cell]
    rank: int | None = None
    status: str = "ok"
    failures: str | None = None     # "1 of 3 seeds diverged"
    floor: bool = False


@dataclass
class Table:
    columns: list[Column]
    rows: list[Row]           # ranked variants
    floor: Row | None
    primary: Column
    notes: list[str] = field(default_factory=list)    # numbered: why a value is missing
    legend: list[str] = field(default_factory=list)   # unnumbered


VARIANT_GROUPS = ("TSTR", "modes", "semi-supervised", "translation")


def _column(key: str) -> Column:
    if key == "trtr_accuracy":
        return Column(key, "TSTR", "TRTR", 0)
    m = metric(key)
    group = key.rsplit(".", 1)[0] if m.per_backbone else \
        ("modes" if key in MODE_METRICS else
         "semi-supervised" if key in SSL_METRICS else
         "translation" if key in TRANSLATION_METRICS else "TSTR")
    return Column(key, group, m.label, m.direction)


def translation_columns(inputs: ReportInputs) -> list[Column]:
    """A translation task's table: FID, KID, precision and recall per backbone, then the
    translation metrics any of its variants has (L1/PSNR/SSIM for paired tasks, the cycle L1
    for unpaired ones, class preservation for both)."""
    cols = [_column(f"{b}.{m}") for b in inputs.backbones for m in TRANSLATION_BACKBONE_METRICS]
    primary = _column(inputs.primary_metric)
    if primary.key not in {c.key for c in cols} and primary.key not in VARIANT_METRICS:
        cols.append(primary)
    return cols + [_column(k) for k in TRANSLATION_METRICS
                   if any((v.aggregate.metrics.get(k) or None) and v.aggregate.metrics[k].n
                          for v in inputs.variants)]


def columns_for(inputs: ReportInputs) -> list[Column]:
    """Per backbone: all its metrics for one backbone, the five main ones for several (so the
    table fits a laptop and a PR comment); then TSTR, TRTR and their ratio, then the
    mode-collapse diagnostics. A translation section: ``translation_columns``."""
    if inputs.task != GENERATE:
        return translation_columns(inputs)
    keys = BACKBONE_METRICS if len(inputs.backbones) <= 1 else SUMMARY_METRICS
    cols = [_column(f"{b}.{m}") for b in inputs.backbones for m in keys]
    primary = _column(inputs.primary_metric)
    if primary.key not in {c.key for c in cols} and primary.key not in VARIANT_METRICS:
        cols.append(primary)
    semi = [k for k in SSL_METRICS
            if any(v.aggregate.metrics.get(k) for v in inputs.variants)]
    return cols + [_column(k) for k in ("tstr_accuracy", "trtr_accuracy", "tstr_ratio",
                                        *MODE_METRICS, *semi)]


def interval_text(summary, key: str) -> str | None:
    """``± h`` for a symmetric interval, ``[low, high]`` otherwise; None without one."""
    if summary is None or summary.ci_low is None or summary.mean is None:
        return None
    low, high = summary.ci_high - summary.mean, summary.mean - summary.ci_low
    if abs(low - high) <= 1e-9 * max(1.0, abs(summary.mean)):
        return f"± {fmt(low, key)}"
    return f"[{fmt(summary.ci_low, key)}, {fmt(summary.ci_high, key)}]"


def _reason(inputs: ReportInputs, variant, key: str) -> str | None:
    prov = variant.aggregate.provenance
    if key in ("tstr_accuracy", "tstr_ratio", "trtr_accuracy"):
        return prov.get("tstr_reason")
    if key in MODE_METRICS:
        return "evaluated before the mode diagnostics existed: rerun its evaluate stage"
    if key in SSL_METRICS:
        return "not a semi_supervised variant"
    if key in ("l1", "psnr", "ssim"):
        return "an unpaired task has no target to compare with"
    if key == "cycle_l1":
        return "a paired translator has no way back (no cycle)"
    if key == "sharpness":
        return "evaluated before sharpness existed: rerun its evaluate stage"
    if key == "class_preservation":
        return "not a translation variant"
    backbone, _, name = key.rpartition(".")
    entry = (prov.get("backbones") or {}).get(backbone)
    if entry is None:
        return f"not evaluated with the {backbone} backbone"
    if name == "is_mean":
        return entry.get("is_reason")
    return None


def build_table(inputs: ReportInputs) -> Table:
    """The ranked table: variants by rank on the primary metric (ties share a rank), then by
    mean; variants without the primary metric last, in params order."""
    columns = columns_for(inputs)
    primary = _column(inputs.primary_metric)
    notes: list[str] = []
    compared = inputs.comparisons.get("metrics", {})

    def note(reason: str | None) -> int | None:
        if not reason:
            return None
        if reason not in notes:
            notes.append(reason)
        return notes.index(reason) + 1

    def cells(variant) -> list[Cell]:
        out = []
        for col in columns:
            if col.key == "trtr_accuracy":
                trtr = ((variant.aggregate.provenance.get("tstr") or {}).get("trtr_accuracy")
                        or (inputs.judge or {}).get("trtr_accuracy"))
                out.append(Cell(fmt(trtr, "tstr_accuracy"), number(trtr)))
                continue
            summary = variant.aggregate.metrics.get(col.key)
            mean = summary.mean if summary else None
            text = fmt(mean, col.key)
            cell = Cell(text, number(mean), interval_text(summary, col.key),
                        list(summary.values) if summary else [])
            if text == "—":
                cell.note = note(_reason(inputs, variant, col.key))
            comparison = compared.get(col.key)
            if comparison and any(comparison["beats"].values()):
                cell.best = (comparison["ranks"].get(variant.name) == 1
                             and bool(comparison["beats"].get(variant.name)))
            out.append(cell)
        return out

    ranks = (compared.get(primary.key) or {}).get("ranks", {})
    rows = []
    for v in inputs.variants:
        failures = None
        if v.aggregate.failures:
            failures = (f"{v.aggregate.failures} of {len(v.aggregate.seeds)} seeds diverged "
                        f"(seed {', '.join(map(str, v.diverged_seeds))})")
        rows.append(Row(v.name, cells(v), rank=ranks.get(v.name), status=v.status,
                        failures=failures))
    sign = primary.direction or 1
    means = {v.name: (v.aggregate.metrics.get(primary.key).mean
                      if v.aggregate.metrics.get(primary.key) else None)
             for v in inputs.variants}
    order = {v.name: i for i, v in enumerate(inputs.variants)}
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0,
                             -sign * (means[r.name] if number(means[r.name]) is not None
                                      else 0.0), order[r.name]))
    legend = []
    if any(c.best for r in rows for c in r.cells):
        legend.append(BOLD_NOTE)
    if any(r.failures for r in rows):
        legend.append(DIVERGED_NOTE)
    floor = None
    if inputs.floor:
        flat = inputs.floor.flat()
        floor_cells = []
        for col in columns:
            value = flat.get(col.key)
            floor_cells.append(Cell(fmt(value, col.key), number(value)))
        floor = Row("real", floor_cells, floor=True)
        legend.append(FLOOR_NOTE)
    return Table(columns, rows, floor, primary, notes, legend)


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscript(number_: int) -> str:
    return str(number_).translate(SUPERSCRIPTS)


# --------------------------------------------------------------------------- comparisons


@dataclass
class MatrixCell:
    verdict: str | None       # better / worse / indistinguishable (row against column)
    p_improvement: float | None
    difference: float | None
    interval: str | None


def pairwise_matrix(inputs: ReportInputs, key: str) -> tuple[list[str], list[list[MatrixCell]]]:
    """Row variant against column variant on ``key``: verdict, P(row better), difference."""
    comparison = inputs.comparisons.get("metrics", {}).get(key)
    names = list((comparison or {}).get("ranks", {}))
    cells = {}
    for pair in (comparison or {}).get("pairs", []):
        a, b = pair["a"], pair["b"]
        text = (f"[{fmt(pair['ci_low'], key)}, {fmt(pair['ci_high'], key)}]"
                if pair["ci_low"] is not None else None)
        cells[a, b] = MatrixCell(pair["verdict"], pair["p_improvement"], pair["difference"],
                                 text)
        flipped = {stats.BETTER: stats.WORSE, stats.WORSE: stats.BETTER}.get(pair["verdict"],
                                                                             pair["verdict"])
        back = (f"[{fmt(-pair['ci_high'], key)}, {fmt(-pair['ci_low'], key)}]"
                if pair["ci_low"] is not None else None)
        cells[b, a] = MatrixCell(flipped, 1.0 - pair["p_improvement"], -pair["difference"],
                                 back)
    grid = [[cells.get((a, b), MatrixCell(None, None, None, None)) for b in names]
            for a in names]
    return names, grid


def sentences(inputs: ReportInputs) -> list[str]:
    """The ranking on the primary metric in words (summary.md and the page)."""
    comparison = inputs.comparisons.get("metrics", {}).get(inputs.primary_metric)
    return ranking_sentences(comparison, inputs.primary_metric, inputs.seed_counts)


# --------------------------------------------------------------------------- settings


def show_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


def settings_matrix(variants) -> list[tuple[str, list[str], bool]]:
    """Rows (key, value per variant, differs) over the union of every variant's keys."""
    keys: list[str] = []
    for v in variants:
        keys += [k for k in v.settings if k not in keys]
    rows = []
    for key in keys:
        values = [show_value(v.settings[key]) if key in v.settings else "—"
                  for v in variants]
        rows.append((key, values, len(set(values)) > 1))
    return rows


# --------------------------------------------------------------------------- provenance


def _same(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return present[0] if present and all(v == present[0] for v in present) else None


def _per_variant(inputs: ReportInputs, get) -> str:
    values = [get(v) for v in inputs.variants]
    common = _same(values)
    if common is not None:
        return show_value(common)
    return ", ".join(f"{v.name} {show_value(x)}" for v, x in zip(inputs.variants, values))


def interval_method_text(inputs: ReportInputs) -> str:
    methods = {v.aggregate.interval.get("method") for v in inputs.variants}
    names = {stats.T_METHOD: "Student t interval of the mean",
             stats.BCA_METHOD: "BCa bootstrap interval of the mean (scipy, 9,999 resamples)",
             stats.NO_INTERVAL: "no interval (a single seed)"}
    level = f"{stats.LEVEL:.0%}"
    return (f"{level} " + "; ".join(names.get(m, str(m)) for m in sorted(map(str, methods)))
            + " over training seeds; pairwise: Welch t interval of the difference of means and"
            " the probability of improvement over seed pairs (Agarwal et al. 2021), not "
            "corrected for multiple comparisons")


def _ssim_window(v) -> str | None:
    side = (v.aggregate.provenance.get("translation") or {}).get("ssim_window")
    return f"{side}x{side}" if side else None


def provenance(inputs: ReportInputs) -> list[tuple[str, str]]:
    """(label, text) facts: dataset, seeds, intervals, checkpoints, samples, backbones, commit."""
    data, judge = inputs.data, inputs.judge or {}
    first = inputs.variants[0].aggregate.provenance if inputs.variants else {}
    ref = first.get("reference") or {}
    dataset = data.get("source") or (inputs.reference or {}).get("source") or "unknown dataset"
    shape = ""
    if data.get("image_size"):
        shape = f" ({data.get('channels', 1)}×{data['image_size']}×{data['image_size']})"
    parts = [f"{dataset}{shape}"]
    if judge.get("n_train"):
        parts.append(f"judge trained on {judge['n_train']} real train images")
    parts.append(f"reference: {ref.get('n', '?')} held-out {ref.get('split', 'test')} images")
    facts = [("dataset", ", ".join(parts))]
    seeds = _per_variant(inputs, lambda v: v.aggregate.seeds)
    facts.append(("training seeds", f"{seeds} (n = "
                  f"{_per_variant(inputs, lambda v: len(v.aggregate.seeds))} per variant)"))
    facts.append(("intervals", interval_method_text(inputs)))
    facts.append(("checkpoint", CHECKPOINT_RULE))
    samples = _per_variant(inputs, lambda v: (v.aggregate.provenance.get("samples") or {})
                           .get("n"))
    if inputs.task == GENERATE:
        latent = _per_variant(inputs, lambda v: (v.aggregate.provenance.get("samples") or {})
                              .get("seed"))
        noise = _per_variant(inputs, lambda v: (v.aggregate.provenance.get("eval_noise") or {})
                             .get("draws"))
        facts.append(("samples", f"{samples} generated per chain (latent seed {latent}); "
                      f"evaluation noise from {noise} latent draws per chain"))
    else:
        paired = TASKS[inputs.task].paired
        extra = (f"; L1, PSNR and SSIM against each source's own target (SSIM: Gaussian "
                 f"window {_per_variant(inputs, _ssim_window)}, Wang et al. 2004)" if paired
                 else "; cycle L1: A -> B -> A against A")
        extra += ("; sharpness: the translations' mean total variation (absolute difference "
                  "of adjacent pixels) over the real test images': 1 as sharp as the data, "
                  "below 1 blurred, above 1 noisier (no better direction: not ranked)")
        facts.append(("translations", f"task {inputs.task} ({'paired' if paired else 'unpaired'}"
                      f"; source: {TASKS[inputs.task].source}; target: the prepared images): "
                      f"the {samples} test sources translated once per chain (a translation is "
                      "deterministic, so there are no evaluation-noise draws), scored against "
                      "the real test split; class preservation: the judge's accuracy against "
                      f"the source labels{extra}"))
    facts.append(("grids", f"the representative seed of each variant: {REPRESENTATIVE_RULE}"))
    backbones = []
    for b in inputs.backbones:
        versions = {((v.aggregate.provenance.get("backbones") or {}).get(b) or {})
                    .get("version") for v in inputs.variants} - {None}
        backbones.append(f"{b} [{'; '.join(sorted(map(str, versions))) or 'version unknown'}]")
    facts.append(("backbones", ", ".join(backbones) or "none"))
    commit = str(inputs.git.get("git_commit") or "unknown")
    dirty = " (with uncommitted changes)" if inputs.git.get("git_dirty") == "true" else ""
    facts.append(("commit", f"{commit[:12]}{dirty}, ganbench {__version__}"))
    return facts


__all__ = ["Column", "Cell", "Row", "Table", "build_table", "pairwise_matrix", "sentences",
           "settings_matrix", "provenance", "show_value", "superscript", "direction"]
