"""The results format: the one owner of every metric's name, direction and label, of one chain's
metrics file and of the aggregate over seeds (docs/ARCHITECTURE.md, "Metrics files").

- ``METRICS``: each metric once, with its better direction, label and number format. Flat
  names are ``<backbone>.<metric>`` (``judge.fid``) for the backbone metrics and the bare name
  (``tstr_accuracy``) for the others; every module (evaluation, aggregation, report, gate,
  tracking) uses these names and ``direction``.
- ``SeedResult``: ``reports/metrics/<v>/seed<s>.json``, one (variant, seed) chain, written by
  evaluate. ``to_json`` / ``from_json`` (which checks the shape and raises ``InputError``),
  ``flat()`` the one flat view.
- ``VariantAggregate``: one variant of ``reports/metrics.json`` (per-seed values, n, mean,
  std, interval, evaluation noise, failures), written by aggregate, read by the report and
  the gate.

Like torch-fidelity's metric modules, the format is data plus pure functions; nothing here
computes a metric.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganbench.errors import InputError


# --------------------------------------------------------------------------- metric names


@dataclass(frozen=True)
class Metric:
    """One metric: its name, better direction (+1 higher, -1 lower), label and format."""

    name: str
    direction: int
    label: str
    fmt: str = "{:.3f}"
    per_backbone: bool = True
    spread: str | None = None   # the key of its within-evaluation spread (KID subsets, IS splits)
    doc: str = ""


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fid", -1, "FID", "{:.2f}", doc="Fréchet distance (Heusel et al. 2017)"),
    Metric("kid_mean", -1, "KID", "{:.4f}", spread="kid_std",
           doc="kernel inception distance (Bińkowski et al. 2018)"),
    Metric("is_mean", +1, "IS", "{:.2f}", spread="is_std",
           doc="Inception Score (Salimans et al. 2016)"),
    Metric("precision", +1, "precision", doc="k-NN precision (Kynkäänniemi et al. 2019)"),
    Metric("recall", +1, "recall", doc="k-NN recall (Kynkäänniemi et al. 2019)"),
    Metric("density", +1, "density", doc="density (Naeem et al. 2020)"),
    Metric("coverage", +1, "coverage", doc="coverage (Naeem et al. 2020)"),
    Metric("tstr_accuracy", +1, "TSTR", per_backbone=False,
           doc="train on synthetic, test on real (Esteban et al. 2017)"),
    Metric("tstr_ratio", +1, "TSTR/TRTR", per_backbone=False, doc="TSTR / TRTR"),
    Metric("ssl_accuracy", +1, "SSL acc", per_backbone=False,
           doc="the semi-supervised D's accuracy on the test split (Salimans et al. 2016)"),
    Metric("ssl_baseline_accuracy", +1, "supervised", per_backbone=False,
           doc="the judge architecture trained on the same labelled images only"),
    Metric("ssl_gain", +1, "SSL gain", per_backbone=False,
           doc="ssl_accuracy - ssl_baseline_accuracy"),
    Metric("modes_covered", +1, "modes", "{:.1f}", per_backbone=False,
           doc="classes the judge finds in at least a quarter of a balanced share of the "
               "samples (Srivastava et al. 2017)"),
    Metric("mode_kl", -1, "mode KL", "{:.3f}", per_backbone=False,
           doc="KL of the samples' judge class histogram from the real test split's "
               "(Srivastava et al. 2017)"),
    Metric("class_preservation", +1, "class kept", per_backbone=False,
           doc="the judge's accuracy on translated test images against the source image's "
               "label"),
    Metric("l1", -1, "L1", "{:.4f}", per_backbone=False,
           doc="mean absolute error to the paired target, pixels in [0, 1]"),
    Metric("psnr", +1, "PSNR", "{:.2f}", per_backbone=False,
           doc="peak signal-to-noise ratio to the paired target, dB, mean over images"),
    Metric("ssim", +1, "SSIM", "{:.3f}", per_backbone=False,
           doc="structural similarity to the paired target (Wang et al. 2004)"),
    Metric("cycle_l1", -1, "cycle L1", "{:.4f}", per_backbone=False,
           doc="mean absolute error of A->B->A to A (Zhu et al. 2017), pixels in [0, 1]"),
    # no better direction (1 is the data's own; below is blurred, above noisier): shown,
    # never ranked or gated
    Metric("sharpness", 0, "sharpness", "{:.3f}", per_backbone=False,
           doc="mean total variation of the translations over that of the real images they "
               "are scored against: 1 as sharp as the data, below 1 blurred, above 1 noisier"),
)}
BACKBONE_METRICS = tuple(m for m in METRICS if METRICS[m].per_backbone)
VARIANT_METRICS = tuple(m for m in METRICS if not METRICS[m].per_backbone)
TSTR_METRICS = ("tstr_accuracy", "tstr_ratio")
MODE_METRICS = ("modes_covered", "mode_kl")
SSL_METRICS = ("ssl_accuracy", "ssl_baseline_accuracy", "ssl_gain")
TRANSLATION_METRICS = ("class_preservation", "l1", "psnr", "ssim", "cycle_l1", "sharpness")
GENERATE = "generate"  # the task of a generator (``variants.<v>.task``)


def metric(flat_name: str) -> Metric:
    """The ``Metric`` of a flat name (``judge.fid`` or ``fid`` or ``tstr_accuracy``)."""
    base = flat_name if flat_name in VARIANT_METRICS else flat_name.rsplit(".", 1)[-1]
    if base not in METRICS:
        raise KeyError(f"unknown metric {flat_name!r}; metrics: {', '.join(METRICS)}")
    return METRICS[base]


def direction(flat_name: str) -> int:
    """+1 when higher is better, -1 when lower is better (0 for an unknown name)."""
    try:
        return metric(flat_name).direction
    except KeyError:
        return 0


def flat_names(backbones) -> list[str]:
    """Every flat metric name for these backbones, in ``METRICS`` order."""
    return [f"{b}.{m}" for b in backbones for m in BACKBONE_METRICS] + list(VARIANT_METRICS)


def fmt(value: Any, flat_name: str = "") -> str:
    """A value as the report shows it; ``—`` for none."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    if not math.isfinite(value):
        return str(value)
    try:
        return metric(flat_name).fmt.format(value)
    except KeyError:
        return f"{value:.3f}"


def number(value: Any) -> float | None:
    """A finite float, or None (for null, strings, booleans and non-finite values)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------- one chain


def _build(cls, data: Any, where: str):
    """``cls(**data)`` with the keys checked: a missing or extra key is an InputError."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing, extra = sorted(required - set(data)), sorted(set(data) - names)
    if missing or extra:
        raise InputError(f"{where}: not a ganbench results object"
                         + (f" (missing {', '.join(missing)})" if missing else "")
                         + (f" (unknown {', '.join(extra)})" if extra else ""))
    return cls(**data)


def _build_each(cls, mapping: Any, where: str, label: str) -> dict:
    """``{name: cls(**entry)}`` for a mapping field, each entry checked by ``_build``."""
    if not isinstance(mapping, dict):
        raise InputError(f"{where}: '{label}' must be a mapping")
    return {name: _build(cls, entry, f"{where}: {label}.{name}")
            for name, entry in mapping.items()}


@dataclass
class BackboneResult:
    """One backbone's metrics of one sample set, beside what produced them."""

    backbone: str
    version: str
    feature_dim: int
    n_generated: int
    n_real: int
    seed: int
    fid: float
    kid_mean: float
    kid_std: float
    kid_subsets: int
    kid_subset_size: int
    is_mean: float | None
    is_std: float | None
    is_splits: int
    is_reason: str | None
    precision: float
    recall: float
    density: float
    coverage: float
    prdc_k: int


@dataclass
class TstrResult:
    """TSTR of one sample set (Esteban et al. 2017); ratio = accuracy / TRTR."""

    accuracy: float
    trtr_accuracy: float
    ratio: float
    n_train: int
    n_test: int
    seed: int
    classifier: str


@dataclass
class ModesResult:
    """Mode-collapse diagnostics of one sample set (``ganbench.metrics.modes``): the judge's
    arg-max class shares of the samples (``histogram``) against the real test split's label
    shares (``reference``)."""

    modes_covered: int
    mode_kl: float
    num_classes: int
    min_share: float
    histogram: list[float]
    reference: list[float]
    classifier: str


@dataclass
class SslResult:
    """The semi-supervised GAN's scores (``ganbench.semi_supervised``): D's K-class test
    accuracy, the supervised baseline's on the same labelled images, and the gain."""

    accuracy: float
    baseline_accuracy: float
    gain: float
    n_labeled: int
    n_test: int
    baseline: str


@dataclass
class TranslationResult:
    """An image-to-image translator's scores on the translated test split
    (``ganbench.translation``): class preservation and sharpness for every task, L1/PSNR/SSIM
    against the paired target, the cycle L1 of an unpaired (CycleGAN) translator; None where a
    score does not apply."""

    task: str
    paired: bool
    n: int                         # translated test images
    class_preservation: float
    l1: float | None
    psnr: float | None
    ssim: float | None
    cycle_l1: float | None
    classifier: str                # the judge version that read the classes
    ssim_window: int | None = None
    psnr_cap: float | None = None  # dB given to a pixel-exact image (uint8 resolution limit)
    sharpness: float | None = None  # None in files written before it existed


@dataclass
class EvalNoise:
    """The evaluation noise of one chain: the std of each backbone metric over ``draws``
    independent latent draws (seeds ``latent_seeds``); the reported values are the first
    draw's (``samples/``, seed ``sample.seed``)."""

    draws: int
    latent_seeds: list[int]
    std: dict[str, float]


@dataclass
class SeedResult:
    """``reports/metrics/<v>/seed<s>.json``: the metrics of one (variant, seed) chain. The
    real-data floor (``data/reference/floor.json``) has the same shape, variant ``real``."""

    variant: str
    seed: int | None
    status: str
    diverged_step: int | None
    conditional: bool
    arch: str | None
    loss: str | None
    train: dict | None          # {"steps", "epochs", "device"} (None for the floor)
    samples: dict               # {"n", "seed", "class_balanced", "ema"}
    reference: dict             # {"split", "n"}
    backbones: dict[str, BackboneResult]
    tstr: TstrResult | None
    tstr_reason: str | None
    eval_noise: EvalNoise | None = None
    modes: ModesResult | None = None
    ssl: SslResult | None = None
    task: str = GENERATE
    translation: TranslationResult | None = None

    def flat(self) -> dict[str, float | None]:
        """``{"judge.fid": 12.3, ..., "tstr_accuracy": 0.91}`` for every metric that applies:
        each backbone's metrics, TSTR and the mode diagnostics (None when they do not
        apply)."""
        out: dict[str, float | None] = {}
        for name, scores in self.backbones.items():
            for key in BACKBONE_METRICS:
                out[f"{name}.{key}"] = number(getattr(scores, key))
        out["tstr_accuracy"] = self.tstr.accuracy if self.tstr else None
        out["tstr_ratio"] = self.tstr.ratio if self.tstr else None
        out["modes_covered"] = self.modes.modes_covered if self.modes else None
        out["mode_kl"] = self.modes.mode_kl if self.modes else None
        if self.ssl:
            out.update(ssl_accuracy=self.ssl.accuracy,
                       ssl_baseline_accuracy=self.ssl.baseline_accuracy, ssl_gain=self.ssl.gain)
        if self.translation:
            for key in TRANSLATION_METRICS:
                out[key] = number(getattr(self.translation, key))
        return out

    def spreads(self) -> dict[str, float | None]:
        """The within-evaluation spreads (``judge.kid_std`` over KID subsets, ``judge.is_std``
        over IS splits), by their own flat names."""
        return {f"{name}.{METRICS[key].spread}": number(getattr(scores, METRICS[key].spread))
                for name, scores in self.backbones.items()
                for key in BACKBONE_METRICS if METRICS[key].spread}

    def tracked_metrics(self) -> dict[str, float]:
        """What MLflow gets: the flat names (``judge.fid``, ``tstr_accuracy``), the spreads
        (``judge.kid_std``), TRTR and the evaluation noise (``judge.fid.eval_std``)."""
        out = {k: v for k, v in {**self.flat(), **self.spreads()}.items() if v is not None}
        if self.tstr:
            out["trtr_accuracy"] = self.tstr.trtr_accuracy
        if self.eval_noise:
            out.update({f"{k}.eval_std": v for k, v in self.eval_noise.std.items()})
        return out

    def tracked_tags(self) -> dict[str, str]:
        """What produced the numbers, as MLflow tags: backbone versions, counts and seeds."""
        tags = {}
        for name, entry in self.backbones.items():
            tags[f"{name}.version"] = entry.version
            tags[f"{name}.n"] = f"{entry.n_generated} generated vs {entry.n_real} real"
            tags[f"{name}.seed"] = str(entry.seed)
        if self.modes:
            tags["modes.min_share"] = str(self.modes.min_share)
        if self.tstr:
            tags["tstr.classifier"] = self.tstr.classifier
        elif self.tstr_reason:
            tags["tstr.reason"] = self.tstr_reason
        if self.eval_noise:
            tags["eval_noise.latent_seeds"] = ",".join(map(str, self.eval_noise.latent_seeds))
        return tags

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> "SeedResult":
        result = _build(cls, data, where)
        result.backbones = _build_each(BackboneResult, result.backbones, where, "backbones")
        if result.tstr is not None:
            result.tstr = _build(TstrResult, result.tstr, f"{where}: tstr")
        if result.eval_noise is not None:
            result.eval_noise = _build(EvalNoise, result.eval_noise, f"{where}: eval_noise")
        if result.modes is not None:
            result.modes = _build(ModesResult, result.modes, f"{where}: modes")
        if result.ssl is not None:
            result.ssl = _build(SslResult, result.ssl, f"{where}: ssl")
        if result.translation is not None:
            result.translation = _build(TranslationResult, result.translation,
                                        f"{where}: translation")
        return result


# --------------------------------------------------------------------------- the aggregate


@dataclass
class MetricSummary:
    """One metric of one variant over its seeds (``values`` in seeds order, None where the
    metric does not apply); ``method``: how ``ci_low``/``ci_high`` were computed from the
    ``n`` present values (``ganbench.stats``); ``eval_std``: the evaluation noise, pooled over
    seeds."""

    values: list[float | None]
    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    method: str | None = None
    eval_std: float | None = None


@dataclass
class VariantAggregate:
    """One variant of ``reports/metrics.json``."""

    variant: str
    conditional: bool
    arch: str | None
    loss: str | None
    seeds: list[int]
    statuses: list[str]                  # per seed: ok | diverged
    failures: int                        # diverged seeds: counted, never dropped
    failure_rate: float
    interval: dict                       # {"level", "method", "over"}
    metrics: dict[str, MetricSummary]
    provenance: dict = field(default_factory=dict)  # samples, reference, backbones, tstr
    task: str = GENERATE                 # generate, or the translation task it is ranked in

    def values(self, flat_name: str) -> list[float]:
        """The finite per-seed values of one metric (what statistics run on)."""
        summary = self.metrics.get(flat_name)
        return [v for v in (summary.values if summary else []) if number(v) is not None]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> "VariantAggregate":
        result = _build(cls, data, where)
        result.metrics = _build_each(MetricSummary, result.metrics, where, "metrics")
        for name, summary in result.metrics.items():
            if not isinstance(summary.values, list):
                raise InputError(f"{where}: metrics.{name}.values must be a list")
            for value in summary.values:
                if value is not None and number(value) is None:
                    raise InputError(f"{where}: metrics.{name} holds {value!r}, not a number "
                                     "(a metric is a finite number, or null when it does not "
                                     "apply)")
        return result


# --------------------------------------------------------------------------- files


def _strict_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (metrics are finite numbers or null)")


def parse_json_strict(text: str, where: str, hint: str = "") -> Any:
    """JSON without NaN/Infinity; malformed text is an InputError naming ``where``."""
    try:
        return json.loads(text, parse_constant=_strict_constant)
    except ValueError as exc:
        raise InputError(f"{where}: not valid JSON ({exc})" + (f"; {hint}" if hint else "")) \
            from None


def read_json_strict(path: str | Path, hint: str) -> Any:
    """``parse_json_strict`` of a file; a missing or unreadable file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing; {hint}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({exc}); {hint}") from None
    return parse_json_strict(text, str(path), hint)


def read_seed_result(path: str | Path, hint: str) -> SeedResult:
    return SeedResult.from_json(read_json_strict(path, hint), str(path))


def parse_aggregate(data: Any, where: str) -> dict[str, VariantAggregate]:
    """``reports/metrics.json`` as ``{variant: VariantAggregate}``, checked."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: must be a JSON object keyed by variant (reports/metrics.json,"
                         " written by the aggregate stage)")
    return {name: VariantAggregate.from_json(entry, f"{where}: variant {name!r}")
            for name, entry in data.items()}


def parse_comparisons(data: Any, where: str) -> dict:
    """``reports/comparisons.json`` (written by ``ganbench.aggregate.compare``), checked for
    the shape the report reads: per metric the ranks, who beats whom and the pairs."""
    hint = "rerun `dvc repro aggregate` (it writes this file)"
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{where}: must be an object with a 'metrics' object; {hint}")
    tasks = data.get("tasks", {})
    if not isinstance(tasks, dict) or not all(isinstance(t, dict) for t in tasks.values()):
        raise InputError(f"{where}: 'tasks' must map each translation task to its "
                         f"comparisons; {hint}")
    for task, entry in tasks.items():
        parse_comparisons(entry, f"{where}: tasks.{task}")
    for name, entry in data["metrics"].items():
        ok = (isinstance(entry, dict) and isinstance(entry.get("ranks"), dict)
              and isinstance(entry.get("beats"), dict) and isinstance(entry.get("pairs"), list)
              and all(isinstance(r, int) and not isinstance(r, bool) and r >= 1
                      for r in entry["ranks"].values())
              and all(isinstance(b, list) and all(isinstance(v, str) for v in b)
                      for b in entry["beats"].values()))
        if not ok:
            raise InputError(f"{where}: metrics.{name} must hold 'ranks' (variant -> rank >= 1),"
                             f" 'beats' (variant -> list of variants) and 'pairs' (a list); "
                             f"{hint}")
    return data


def aggregate_document(aggregates: dict[str, VariantAggregate]) -> dict:
    return {name: agg.to_json() for name, agg in aggregates.items()}
