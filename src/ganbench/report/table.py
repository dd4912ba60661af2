"""What the report says, independent of Markdown or HTML: the ranked table (columns, cells,
best values, footnotes), the settings matrix and the provenance facts.

Cells hold plain text; the renderers add bold, arrows and escaping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ganbench import __version__
from ganbench.report.collect import ReportInputs, direction

LABELS = {"fid": "FID", "kid_mean": "KID", "is_mean": "IS", "precision": "prec.",
          "recall": "recall", "density": "dens.", "coverage": "cov.",
          "tstr_accuracy": "TSTR", "trtr_accuracy": "TRTR", "tstr_ratio": "TSTR/TRTR"}
NAMES = {"prec.": "precision", "dens.": "density", "cov.": "coverage"}  # for figure titles
FORMATS = {"fid": "{:.2f}", "kid_mean": "{:.4f}", "is_mean": "{:.2f}"}
STDS = {"kid_mean": "kid_std", "is_mean": "is_std"}
SUMMARY_METRICS = ("fid", "kid_mean", "is_mean", "precision", "recall")
ALL_METRICS = ("fid", "kid_mean", "is_mean", "precision", "recall", "density", "coverage")
TSTR_KEYS = ("tstr_accuracy", "trtr_accuracy", "tstr_ratio")
ARROWS = {-1: "↓", 1: "↑", 0: ""}
DIVERGED_NOTE = ("⚠ diverged: training hit non-finite values; the variant was sampled and "
                 "evaluated from its last finite weights")
FLOOR_NOTE = ("real: held-out real train images scored like a variant, the noise floor a "
              "perfect generator would reach at these sample counts (not ranked)")


@dataclass(frozen=True)
class Column:
    key: str            # "judge.fid", "tstr_accuracy", "trtr_accuracy"
    group: str          # backbone name, or "TSTR"
    label: str
    direction: int      # +1 higher is better, -1 lower is better, 0 not compared

    @property
    def header(self) -> str:
        return f"{self.label} {ARROWS[self.direction]}".strip()

    @property
    def metric(self) -> str:
        return self.key.rsplit(".", 1)[-1]


@dataclass
class Cell:
    text: str                 # "12.30", "0.0101" or "—"
    value: float | None
    std: str | None = None    # "0.0011" for KID and IS
    best: bool = False
    note: int | None = None   # footnote number


@dataclass
class Row:
    name: str
    cells: list[Cell]
    rank: int | None = None
    status: str = "ok"
    diverged_step: int | None = None
    floor: bool = False


@dataclass
class Table:
    columns: list[Column]
    rows: list[Row]           # ranked variants
    floor: Row | None
    primary: Column
    notes: list[str] = field(default_factory=list)    # numbered: why a value is missing
    legend: list[str] = field(default_factory=list)   # unnumbered: ⚠ and the floor row


def fmt(value: Any, metric: str = "") -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    if not math.isfinite(value):
        return str(value)
    return FORMATS.get(metric, "{:.3f}").format(value)


def columns_for(inputs: ReportInputs, metrics=None) -> list[Column]:
    """Per backbone: all seven metrics for one backbone, the five main ones for several (so the
    table fits a laptop screen and a PR comment); then TSTR, TRTR and their ratio."""
    if metrics is None:
        metrics = ALL_METRICS if len(inputs.backbones) <= 1 else SUMMARY_METRICS
    cols = [Column(f"{b}.{m}", b, LABELS[m], direction(m))
            for b in inputs.backbones for m in metrics]
    primary = primary_column(inputs)
    if primary.key not in {c.key for c in cols} and primary.group != "TSTR":
        cols.append(primary)
    cols += [Column(k, "TSTR", LABELS[k], direction(k)) for k in TSTR_KEYS]
    return cols


def primary_column(inputs: ReportInputs) -> Column:
    key = inputs.primary_metric
    if "." in key:
        backbone, metric = key.split(".", 1)
        return Column(key, backbone, LABELS.get(metric, metric), direction(metric))
    return Column(key, "TSTR", LABELS.get(key, key), direction(key))


def lookup(entry: Mapping, column: Column, judge: Mapping | None) -> tuple[Any, Any, str | None]:
    """(value, std, reason-if-null) of one column for one metrics object."""
    if column.group == "TSTR":
        tstr = entry.get("tstr")
        field_name = {"tstr_accuracy": "accuracy", "tstr_ratio": "ratio",
                      "trtr_accuracy": "trtr_accuracy"}[column.key]
        if column.key == "trtr_accuracy":
            value = (tstr or {}).get("trtr_accuracy")
            return (value if value is not None else (judge or {}).get("trtr_accuracy")), None, None
        if not isinstance(tstr, Mapping):
            return None, None, entry.get("tstr_reason")
        return tstr.get(field_name), None, None
    values = (entry.get("backbones") or {}).get(column.group)
    if not isinstance(values, Mapping):
        return None, None, f"not evaluated with the {column.group} backbone"
    metric = column.metric
    reason = values.get("is_reason") if metric == "is_mean" else None
    return values.get(metric), values.get(STDS.get(metric, ""), None), reason


def build_table(inputs: ReportInputs, metrics=None) -> Table:
    """The ranked table: variants by the primary metric (nulls last, ties in params order)."""
    columns = columns_for(inputs, metrics)
    primary = primary_column(inputs)
    notes: list[str] = []

    def note(reason: str | None) -> int | None:
        if not reason:
            return None
        if reason not in notes:
            notes.append(reason)
        return notes.index(reason) + 1

    def cells(entry: Mapping) -> list[Cell]:
        out = []
        for col in columns:
            value, std, reason = lookup(entry, col, inputs.judge)
            text = fmt(value, col.metric)
            std_text = fmt(std, col.metric) if text != "—" and std is not None else None
            out.append(Cell(text, _number(value), std_text,
                            note=None if text != "—" else note(reason)))
        return out

    rows = [Row(v.name, cells(v.metrics), status=v.status, diverged_step=v.diverged_step)
            for v in inputs.variants]
    keyed = [(lookup(v.metrics, primary, inputs.judge)[0], i) for i, v in enumerate(inputs.variants)]
    order = sorted(range(len(rows)), key=lambda i: _rank_key(keyed[i][0], primary.direction, i))
    rows = [rows[i] for i in order]
    rank = 0
    for i, row in zip(order, rows):
        if _number(keyed[i][0]) is not None:
            rank += 1
            row.rank = rank
    _mark_best(columns, rows)
    legend = [DIVERGED_NOTE] if any(r.status == "diverged" for r in rows) else []
    floor = None
    if inputs.floor:
        floor = Row("real", cells(inputs.floor), floor=True)
        legend.append(FLOOR_NOTE)
    return Table(columns, rows, floor, primary, notes, legend)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _rank_key(value, sign: int, index: int):
    number = _number(value)
    if number is None:
        return (1, 0.0, index)
    return (0, -number if sign > 0 else number, index)


def _mark_best(columns: list[Column], rows: list[Row]) -> None:
    """Bold the best value per column (ties on the shown digits all bold); nothing is bold
    when fewer than two values are there or when they all show the same digits."""
    for j, col in enumerate(columns):
        values = [r.cells[j].value for r in rows if r.cells[j].value is not None]
        shown = {fmt(v, col.metric) for v in values}
        if col.direction == 0 or len(values) < 2 or len(shown) < 2:
            continue
        best = fmt(max(values) if col.direction > 0 else min(values), col.metric)
        for r in rows:
            cell = r.cells[j]
            cell.best = cell.value is not None and fmt(cell.value, col.metric) == best


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscript(number: int) -> str:
    return str(number).translate(SUPERSCRIPTS)


# --------------------------------------------------------------------------- settings


def show_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


def settings_matrix(inputs: ReportInputs) -> list[tuple[str, list[str], bool]]:
    """Rows (key, value per variant, differs) over the union of every variant's keys."""
    keys: list[str] = []
    for v in inputs.variants:
        keys += [k for k in v.settings if k not in keys]
    rows = []
    for key in keys:
        values = [show_value(v.settings[key]) if key in v.settings else "—"
                  for v in inputs.variants]
        rows.append((key, values, len(set(values)) > 1))
    return rows


# --------------------------------------------------------------------------- provenance


def _same(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return present[0] if present and all(v == present[0] for v in present) else None


def _per_variant(inputs: ReportInputs, get) -> str:
    values = [get(v.metrics) for v in inputs.variants]
    common = _same(values)
    if common is not None:
        return show_value(common)
    return ", ".join(f"{v.name} {show_value(x)}" for v, x in zip(inputs.variants, values))


def provenance(inputs: ReportInputs) -> list[tuple[str, str]]:
    """(label, text) facts: dataset, sample counts, backbones with versions, seeds, commit."""
    data, judge = inputs.data, inputs.judge or {}
    first = inputs.variants[0].metrics if inputs.variants else {}
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
    samples = _per_variant(inputs, lambda m: (m.get("samples") or {}).get("n"))
    sample_seed = _per_variant(inputs, lambda m: (m.get("samples") or {}).get("seed"))
    facts.append(("samples", f"{samples} generated per variant (latent seed {sample_seed})"))
    backbones = []
    for b in inputs.backbones:
        versions = {((v.metrics.get("backbones") or {}).get(b) or {}).get("version")
                    for v in inputs.variants} - {None}
        backbones.append(f"{b} [{'; '.join(sorted(map(str, versions))) or 'version unknown'}]")
    facts.append(("backbones", ", ".join(backbones) or "none"))
    train_seed = _per_variant(inputs, lambda m: (m.get("train") or {}).get("seed"))
    eval_seed = _per_variant(inputs, lambda m: _same(
        [(b or {}).get("seed") for b in (m.get("backbones") or {}).values()]))
    seeds = f"train {train_seed}, samples {sample_seed}, metrics {eval_seed}"
    if judge.get("seed") is not None:
        seeds += f", judge {judge['seed']}"
    facts.append(("seeds", seeds))
    commit = str(inputs.git.get("git_commit") or "unknown")
    dirty = " (with uncommitted changes)" if inputs.git.get("git_dirty") == "true" else ""
    facts.append(("commit", f"{commit[:12]}{dirty}, ganbench {__version__}"))
    return facts
