"""Load the report's inputs: one ``VariantInputs`` per variant in params order, plus the
real-data floor, the judge summary and provenance. Nothing here renders anything.

Files (see docs/ARCHITECTURE.md, "Metrics files"):
``reports/metrics/<v>.json`` (required for each variant in params; stale files of variants no
longer in params are ignored), ``reports/judge.json``, ``data/reference/floor.json`` and
``data/reference/reference.json`` (optional), ``samples/<v>/{grid,interpolation}.png``,
``models/<v>/train_log.tsv`` and ``models/<v>/weights/model.json`` (optional: the report says
what is missing instead of failing).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ganbench.config import BACKBONE_METRICS, BACKBONES, VARIANT_METRICS
from ganbench.errors import InputError

log = logging.getLogger(__name__)

METRICS_DIR = Path("reports/metrics")
JUDGE_FILE = Path("reports/judge.json")
FLOOR_FILE = Path("data/reference/floor.json")
REFERENCE_FILE = Path("data/reference/reference.json")
LOG_COLUMNS = ("step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "wasserstein",
               "grad_norm_d", "grad_norm_g", "recon", "kl")


@dataclass
class VariantInputs:
    """Everything the report shows about one variant."""

    name: str
    settings: dict                      # the variant's params (validated, loss resolved)
    metrics: dict                       # reports/metrics/<v>.json
    model: dict | None = None           # models/<v>/weights/model.json
    train_log: dict[str, list[float]] | None = None  # column -> values (nan where empty)
    grid_png: bytes | None = None
    interpolation_png: bytes | None = None
    missing: list[str] = field(default_factory=list)  # optional files that were not there

    @property
    def status(self) -> str:
        return str(self.metrics.get("status") or (self.model or {}).get("status") or "ok")

    @property
    def diverged_step(self) -> int | None:
        step = self.metrics.get("diverged_step")
        return step if step is not None else (self.model or {}).get("diverged_step")


@dataclass
class ReportInputs:
    title: str
    primary_metric: str
    variants: list[VariantInputs]
    floor: dict | None = None           # data/reference/floor.json (pseudo-variant "real")
    judge: dict | None = None           # reports/judge.json
    reference: dict | None = None       # data/reference/reference.json
    data: dict = field(default_factory=dict)   # the data params (provenance)
    git: dict = field(default_factory=dict)    # tracking.git_state()

    @property
    def backbones(self) -> list[str]:
        """Backbones that appear in any variant's metrics, in the canonical order."""
        seen = {b for v in self.variants for b in (v.metrics.get("backbones") or {})}
        return [b for b in BACKBONES if b in seen] + sorted(seen - set(BACKBONES))


def read_json_file(path: Path, hint: str) -> Any:
    """Read a JSON input; a missing or malformed file is an InputError naming it."""
    if not path.is_file():
        raise InputError(f"{path}: missing; {hint}")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); {hint}") from None


def _optional_json(path: Path) -> dict | None:
    if not path.is_file():
        log.warning("%s: missing; the report leaves it out", path)
        return None
    data = read_json_file(path, "rerun the stage that writes it")
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


def check_metrics(path: Path, name: str, data: Any) -> dict:
    """The minimal shape the report and the gate rely on."""
    if not isinstance(data, dict) or not isinstance(data.get("backbones"), dict):
        raise InputError(f"{path}: not a variant metrics object (no 'backbones' mapping); "
                         f"rerun dvc repro evaluate@{name}")
    if data.get("variant") not in (None, name):
        raise InputError(f"{path}: holds variant {data['variant']!r}, expected {name!r}; "
                         f"rerun dvc repro evaluate@{name}")
    return data


def load_variant(root: Path, name: str, settings: Mapping) -> VariantInputs:
    path = root / METRICS_DIR / f"{name}.json"
    hint = f"run `dvc repro evaluate@{name}` (it writes this file)"
    metrics = check_metrics(path, name, read_json_file(path, hint))
    item = VariantInputs(name=name, settings=dict(settings), metrics=metrics)
    model = root / "models" / name / "weights" / "model.json"
    grid = root / "samples" / name / "grid.png"
    strip = root / "samples" / name / "interpolation.png"
    train_log = root / "models" / name / "train_log.tsv"
    for path in (model, grid, strip, train_log):
        if not path.is_file():
            item.missing.append(str(path.relative_to(root)))
    if model.is_file():
        item.model = read_json_file(model, f"rerun dvc repro train@{name}")
    item.grid_png = grid.read_bytes() if grid.is_file() else None
    item.interpolation_png = strip.read_bytes() if strip.is_file() else None
    item.train_log = read_train_log(train_log) if train_log.is_file() else None
    return item


def load_inputs(root: str | Path, report, variants: Mapping[str, Mapping],
                data: Mapping | None = None, git: Mapping | None = None) -> ReportInputs:
    """Read every input under ``root`` for ``variants`` (name -> settings, params order).

    ``report`` is a ``ReportParams``; ``data`` the data params (provenance only).
    """
    root = Path(root)
    items = [load_variant(root, name, settings) for name, settings in variants.items()]
    stale = sorted(p.stem for p in (root / METRICS_DIR).glob("*.json") if p.stem not in variants)
    if stale:
        log.info("ignoring metrics of variants no longer in params: %s", ", ".join(stale))
    return ReportInputs(title=report.title, primary_metric=report.primary_metric,
                        variants=items, floor=_optional_json(root / FLOOR_FILE),
                        judge=_optional_json(root / JUDGE_FILE),
                        reference=_optional_json(root / REFERENCE_FILE),
                        data=dict(data or {}), git=dict(git or {}))


# --------------------------------------------------------------------------- metric access


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, for ``fid`` or ``judge.fid``."""
    base = metric.rsplit(".", 1)[-1]
    return BACKBONE_METRICS.get(base) or VARIANT_METRICS.get(metric) or 0


def flat_metrics(entry: Mapping) -> dict[str, float | None]:
    """One variant's gated metrics as ``{"judge.fid": 12.3, ..., "tstr_accuracy": 0.91}``.

    Keys absent from the file are absent here (the gate reports them as missing); a null
    value stays None. ``"tstr": null`` gives both TSTR keys as None.
    """
    out: dict[str, float | None] = {}
    for backbone, values in (entry.get("backbones") or {}).items():
        if isinstance(values, Mapping):
            for metric in BACKBONE_METRICS:
                if metric in values:
                    out[f"{backbone}.{metric}"] = values[metric]
    if "tstr" in entry:
        tstr = entry["tstr"] if isinstance(entry["tstr"], Mapping) else {}
        for key, field_name in (("tstr_accuracy", "accuracy"), ("tstr_ratio", "ratio")):
            if entry["tstr"] is None or field_name in tstr:
                out[key] = tstr.get(field_name)
    return out
