"""The report's matplotlib figures, rendered to PNG and SVG bytes with no global state.

Deterministic: the same data give byte-identical files (``svg.hashsalt`` fixed, no dates or
software versions in the metadata), so DVC does not see a change when nothing changed.
Uses ``matplotlib.figure.Figure`` directly (Agg canvas, no pyplot, no GUI backend).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ganbench.report.collect import ReportInputs, VariantInputs
from ganbench.report.table import ARROWS
from ganbench.results import BACKBONE_METRICS, metric

RC = {"svg.hashsalt": "ganbench", "svg.fonttype": "path", "font.size": 8.5,
      "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
      "axes.axisbelow": True, "grid.alpha": 0.3, "axes.titlesize": 9,
      "axes.titleweight": "bold", "legend.fontsize": 7.5, "legend.frameon": False}
PNG_META = {"Software": None}
SVG_META = {"Date": None, "Creator": "ganbench"}
DPI = 110
CURVES = (("losses", ("loss_d", "loss_g", "recon", "kl"), False),
          ("discriminator outputs", ("d_real", "d_fake"), False),
          ("Wasserstein estimate", ("wasserstein",), False),
          ("gradient norms", ("grad_norm_d", "grad_norm_g"), True))


@dataclass
class Rendered:
    stem: str       # file name without extension, under reports/figures/
    title: str
    png: bytes
    svg: bytes


def safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def colour(i: int) -> tuple:
    return matplotlib.colormaps["tab10"](i % 10)


def _save(fig: Figure, stem: str, title: str) -> Rendered:
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, metadata=PNG_META)
    fig.set_layout_engine("none")  # keep the positions just computed: the SVG skips the layout
    fig.savefig(svg, format="svg", metadata=SVG_META)
    return Rendered(stem, title, png.getvalue(), svg.getvalue())


def _finite(values) -> np.ndarray:
    """Floats with None, strings and +-inf as nan (a diverged log holds inf; plots skip nan)."""
    out = np.asarray([v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                      for v in values], dtype=float)
    out[~np.isfinite(out)] = np.nan
    return out


def _plain(text) -> str:
    """Text shown literally by matplotlib ($ would start mathtext)."""
    return str(text).replace("$", r"\$")


def _strip(ax, inputs: ReportInputs, key: str) -> None:
    """Every seed's value as a dot (diverged seeds hollow and red), the mean as a bar across
    and the 95% interval as a vertical line, per variant; the floor dashed."""
    names = [_plain(v.name) for v in inputs.variants]
    offsets = np.array([-0.18, 0.0, 0.18, -0.09, 0.09, -0.27, 0.27])  # deterministic jitter
    any_value = False
    for i, v in enumerate(inputs.variants):
        summary = v.aggregate.metrics.get(key)
        values = _finite(summary.values if summary else [])
        if not np.isfinite(values).any():
            ax.text(i, 0.5, "n/a", ha="center", va="center", fontsize=7, color="#666",
                    transform=ax.get_xaxis_transform())
            continue
        any_value = True
        xs = i + offsets[np.arange(len(values)) % len(offsets)]
        ok = np.array([s == "ok" for s in v.aggregate.statuses])
        ax.scatter(xs[ok], values[ok], s=14, color=colour(i), zorder=3, linewidth=0)
        if (~ok).any():
            ax.scatter(xs[~ok], values[~ok], s=18, facecolors="none", edgecolors="#c00",
                       zorder=3, linewidth=1)
        ax.plot([i - 0.3, i + 0.3], [summary.mean] * 2, color="#222", linewidth=1.4, zorder=4)
        if summary.ci_low is not None:
            ax.plot([i + 0.36] * 2, [summary.ci_low, summary.ci_high], color="#222",
                    linewidth=1.1, zorder=4)
    if inputs.floor is not None:
        floor = inputs.floor.flat().get(key)
        if isinstance(floor, (int, float)) and math.isfinite(floor):
            ax.axhline(floor, color="#444", linestyle="--", linewidth=1)
    if key == "tstr_accuracy":
        trtr = next((v.aggregate.provenance.get("tstr") or {} for v in inputs.variants
                     if v.aggregate.provenance.get("tstr")), {}).get("trtr_accuracy")
        if trtr is not None:
            ax.axhline(trtr, color="#2a7", linestyle="-.", linewidth=1, label=f"TRTR {trtr:.3f}")
            ax.legend(loc="lower right")
    if not any_value:
        ax.set_yticks([])
    m = metric(key)
    ax.set_title(f"{m.label} {ARROWS[m.direction]}")
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_xlim(-0.6, len(names) - 0.4)


def metric_strips(inputs: ReportInputs, backbone: str) -> Figure:
    """One strip plot per metric of a backbone: every seed's value, the mean and its interval."""
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    axes = fig.subplots(2, 4).ravel()
    for ax, name in zip(axes, BACKBONE_METRICS):
        _strip(ax, inputs, f"{backbone}.{name}")
    axes[-1].set_axis_off()
    axes[-1].text(0, 0.5, f"backbone: {_plain(backbone)}\n\n↓ lower is better\n↑ higher is "
                  "better\n● one training seed\n○ a diverged seed\n— mean, | 95% interval\n"
                  "- - real data (floor)", va="center", fontsize=8, color="#333")
    return fig


def translation_strips(inputs: ReportInputs) -> Figure:
    """One translation task: a strip per metric of its table (every seed, mean, interval)."""
    from ganbench.report.table import columns_for

    keys = [c.key for c in columns_for(inputs)]
    fig = Figure(figsize=(min(12.0, 2.4 * len(keys) + 0.4), 2.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    for ax, key in zip(axes, keys):
        _strip(ax, inputs, key)
    return fig


def tstr_strip(inputs: ReportInputs) -> Figure:
    """TSTR accuracy per seed against TRTR (the judge trained on real data)."""
    fig = Figure(figsize=(max(4.0, 0.8 * len(inputs.variants) + 1.8), 2.9), layout="constrained")
    ax = fig.subplots()
    _strip(ax, inputs, "tstr_accuracy")
    ax.set_ylabel("accuracy on the real test split")
    ax.set_title("Train on synthetic, test on real ↑ (every seed)")
    return fig


def class_histograms(inputs: ReportInputs) -> Figure | None:
    """Per variant, the judge's class shares of its samples (bar: mean over seeds, dots:
    each seed) against the real test split's (black steps), titled with its mode metrics."""
    panels = []
    for v in inputs.variants:
        modes = [r.modes for r in v.results.values() if r.modes is not None]
        if modes:
            panels.append((v, modes))
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.3 * cols, 2.3 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (v, modes) in zip(axes, panels):
        shares = np.array([m.histogram for m in modes], dtype=float)
        k = shares.shape[1]
        x = np.arange(k)
        ax.bar(x, shares.mean(axis=0), color=colour(0), alpha=0.55, width=0.8)
        for row in shares:
            ax.plot(x, row, "o", markersize=2.5, color=colour(0))
        ax.step(np.arange(k + 1) - 0.5, np.append(modes[0].reference, modes[0].reference[-1]),
                where="post", color="#111", linewidth=1.0)
        covered = np.mean([m.modes_covered for m in modes])
        kl = np.mean([m.mode_kl for m in modes])
        ax.axhline(modes[0].min_share / k, color="#c00", linestyle=":", linewidth=0.9)
        ax.set_title(f"{_plain(v.name)}: {covered:.1f}/{k} modes, KL {kl:.3f}", fontsize=9)
        ax.set_xticks(x)
        ax.set_ylim(0, max(0.3, float(shares.max()) * 1.1))
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    fig.suptitle("Judge class shares of the samples (bars: mean over seeds, dots: seeds), "
                 "real test split (black), coverage threshold (red)", fontsize=9)
    return fig


def _smooth(values: np.ndarray) -> np.ndarray | None:
    finite = np.isfinite(values)
    if finite.sum() < 60:
        return None
    window = max(5, int(finite.sum()) // 40)
    kernel = np.ones(window)
    filled = np.where(finite, values, 0.0)
    counts = np.convolve(finite.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, np.convolve(filled, kernel, mode="same") / counts, np.nan)


def training_curves(variant: VariantInputs) -> Figure | None:
    """Losses, D outputs, Wasserstein estimate and gradient norms against the step, of the
    variant's representative seed."""
    log = variant.train_log or {}
    columns = {k: _finite(v) for k, v in log.items()}
    steps = columns.get("step")
    panels = [(title, [c for c in cols if c in columns and np.isfinite(columns[c]).any()], logy)
              for title, cols, logy in CURVES]
    panels = [p for p in panels if p[1]]
    if not panels or steps is None:
        return None
    fig = Figure(figsize=(2.6 * len(panels) + 0.6, 2.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, cols, logy) in zip(axes, panels):
        for i, c in enumerate(cols):
            smooth = _smooth(columns[c])
            ax.plot(steps, columns[c], linewidth=0.8, color=colour(i),
                            alpha=0.3 if smooth is not None else 1.0,
                            label=None if smooth is not None else c)
            if smooth is not None:
                ax.plot(steps, smooth, linewidth=1.3, color=colour(i), label=c)
        step = (variant.model or {}).get("diverged_step")
        if step is not None:
            ax.axvline(step, color="#c00", linestyle=":", linewidth=1.2, label="diverged")
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(loc="best")
    return fig


@dataclass
class Figures:
    overview: list[Rendered]            # strip plots per backbone, TSTR
    curves: dict[str, Rendered]         # variant name -> training curves
    translation: dict[str, Rendered] = field(default_factory=dict)  # task -> its strips

    def all(self) -> list[Rendered]:
        return self.overview + list(self.translation.values()) + list(self.curves.values())


def render_figures(inputs: ReportInputs) -> Figures:
    """Every figure of the report."""
    with matplotlib.rc_context(RC):
        overview = []
        if inputs.variants:
            overview = [_save(metric_strips(inputs, b), f"metrics_{safe_stem(b)}",
                              f"Metrics on the {b} backbone, every seed")
                        for b in inputs.backbones]
            overview.append(_save(tstr_strip(inputs), "tstr", "TSTR against TRTR, every seed"))
            histograms = class_histograms(inputs)
            if histograms is not None:
                overview.append(_save(histograms, "modes", "Class histograms of the samples "
                                      "(mode collapse), every seed"))
        translation = {section.task: _save(translation_strips(section),
                                           f"translation_{safe_stem(section.task)}",
                                           f"Translation task {section.task}: every metric, "
                                           "every seed")
                       for section in inputs.translations}
        used, curves = {r.stem for r in overview + list(translation.values())}, {}
        for variant in inputs.all_variants:
            fig = training_curves(variant)
            if fig is None:
                continue
            stem = f"curves_{safe_stem(variant.name)}"
            while stem in used:  # only names outside the params rules can collide
                stem += "_"
            used.add(stem)
            curves[variant.name] = _save(fig, stem, f"Training curves of {variant.name} "
                                         f"(seed {variant.seed})")
    return Figures(overview, curves, translation)
