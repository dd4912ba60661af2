"""The report's matplotlib figures, rendered to PNG and SVG bytes with no global state.

Deterministic: the same data give byte-identical files (``svg.hashsalt`` fixed, no dates or
software versions in the metadata), so DVC does not see a change when nothing changed.
Uses ``matplotlib.figure.Figure`` directly (Agg canvas, no pyplot, no GUI backend).
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ganbench.report.collect import ReportInputs, VariantInputs, direction
from ganbench.report.table import ALL_METRICS, ARROWS, LABELS, NAMES, STDS, Column, lookup

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


def metric_bars(inputs: ReportInputs, backbone: str) -> Figure:
    """One small bar chart per metric; KID and IS with ±std error bars; the floor dashed."""
    names = [_plain(v.name) for v in inputs.variants]
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(2, 4).ravel()
    for ax, metric in zip(axes, ALL_METRICS):
        col = Column(f"{backbone}.{metric}", backbone, LABELS[metric], 0)
        got = [lookup(v.metrics, col, inputs.judge) for v in inputs.variants]
        values = _finite([g[0] for g in got])
        errors = _finite([g[1] if metric in STDS else None for g in got])
        x = np.arange(len(names))
        bars = ax.bar(x, values, color=[colour(i) for i in x],
                      yerr=None if np.isnan(errors).all() else np.nan_to_num(errors),
                      capsize=3, ecolor="#333", edgecolor="#333", linewidth=0.4)
        for i, bar in enumerate(bars):
            if inputs.variants[i].status == "diverged":
                bar.set_hatch("///")
            if math.isnan(values[i]) and not np.isnan(values).all():
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7, color="#666")
        if np.isnan(values).all():
            reason = next((g[2] for g in got if g[2]), "no values")
            ax.text(0.5, 0.5, "n/a:\n" + "\n".join(textwrap.wrap(_plain(reason), 24)), ha="center",
                    va="center", transform=ax.transAxes, fontsize=7.5, color="#666")
            ax.set_yticks([])
        floor = lookup(inputs.floor, col, inputs.judge)[0] if inputs.floor else None
        if isinstance(floor, (int, float)) and math.isfinite(floor):
            ax.axhline(floor, color="#444", linestyle="--", linewidth=1)
        label = LABELS[metric]
        ax.set_title(f"{NAMES.get(label, label)} {ARROWS[direction(metric)]}")
        ax.set_xticks(x, names, rotation=30, ha="right")
    axes[-1].set_axis_off()
    axes[-1].text(0, 0.5, f"backbone: {_plain(backbone)}\n\n↓ lower is better\n↑ higher is better\n"
                  "- - dashed: real data (floor)\nerror bars: ±1 std over\n  KID subsets, IS splits\n"
                  "hatched: diverged", va="center", fontsize=8, color="#333")
    return fig


def tstr_chart(inputs: ReportInputs) -> Figure:
    """TSTR accuracy per variant against the TRTR line (the judge trained on real data)."""
    names = [_plain(v.name) for v in inputs.variants]
    tstr = [v.metrics.get("tstr") if isinstance(v.metrics.get("tstr"), dict) else {}
            for v in inputs.variants]
    values = _finite([t.get("accuracy") for t in tstr])
    trtr = next((t["trtr_accuracy"] for t in tstr if t.get("trtr_accuracy") is not None),
                (inputs.judge or {}).get("trtr_accuracy"))
    fig = Figure(figsize=(max(4.0, 0.8 * len(names) + 1.8), 2.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(names))
    ax.bar(x, values, color=[colour(i) for i in x], edgecolor="#333", linewidth=0.4)
    for i, (value, t) in enumerate(zip(values, tstr)):
        if math.isnan(value):
            ax.text(i, 0.02, "n/a", ha="center", va="bottom", fontsize=7, color="#666")
            continue
        ratio = f"\n{t['ratio']:.0%} of TRTR" if t.get("ratio") is not None else ""
        ax.text(i, value - 0.03, f"{value:.3f}{ratio}", ha="center", va="top", fontsize=7,
                color="white", fontweight="bold")
    if trtr is not None:
        ax.axhline(trtr, color="#444", linestyle="--", linewidth=1, label=f"TRTR {trtr:.3f}")
        ax.legend(loc="lower right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("accuracy on the real test split")
    ax.set_title("Train on synthetic, test on real ↑")
    ax.set_xticks(x, names, rotation=30, ha="right")
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
    """Losses, D outputs, Wasserstein estimate and gradient norms against the step."""
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
        if variant.diverged_step is not None:
            ax.axvline(variant.diverged_step, color="#c00", linestyle=":", linewidth=1.2,
                       label="diverged")
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(loc="best")
    return fig


@dataclass
class Figures:
    overview: list[Rendered]            # metric bars per backbone, TSTR chart
    curves: dict[str, Rendered]         # variant name -> training curves

    def all(self) -> list[Rendered]:
        return self.overview + list(self.curves.values())


def render_figures(inputs: ReportInputs) -> Figures:
    """Every figure of the report."""
    with matplotlib.rc_context(RC):
        overview = [_save(metric_bars(inputs, b), f"metrics_{safe_stem(b)}",
                          f"Metrics on the {b} backbone") for b in inputs.backbones]
        overview.append(_save(tstr_chart(inputs), "tstr", "TSTR against TRTR"))
        used, curves = {r.stem for r in overview}, {}
        for variant in inputs.variants:
            fig = training_curves(variant)
            if fig is None:
                continue
            stem = f"curves_{safe_stem(variant.name)}"
            while stem in used:  # only names outside the params rules can collide
                stem += "_"
            used.add(stem)
            curves[variant.name] = _save(fig, stem, f"Training curves of {variant.name}")
    return Figures(overview, curves)
