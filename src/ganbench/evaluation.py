"""One chain's metrics file, and the reference statistics every chain is scored against.

Reference (``reference`` stage): for each backbone of ``eval.backbones``, the features of the
real TEST split, held out from training both the generators and the judge, are extracted
once and saved to ``data/reference/<backbone>.npz`` (``features``, ``logits`` when the
backbone has them, FID's ``mu``/``sigma``, and the backbone ``version``).
``data/reference/floor.json`` scores up to ``sample.n_samples`` real TRAIN images exactly
like a variant (pseudo-variant ``real``): the best value each metric can reach at this
sample size.

Evaluation (``evaluate@<variant>-<seed>`` stage): the chain's samples
(``samples/<v>/seed<s>/samples.npz``) go through the same backbones, and each backbone gets
FID (Heusel et al. 2017), KID (Bińkowski et al. 2018), IS (Salimans et al. 2016) when it has
logits, and precision/recall/density/coverage (Kynkäänniemi et al. 2019; Naeem et al. 2020)
against the reference; conditional variants also get TSTR (Esteban et al. 2017), and every
sample set gets the mode-collapse diagnostics of ``ganbench.metrics.modes`` from the judge's
class predictions (whatever ``eval.backbones`` holds: classes are the judge's). The
evaluation noise is measured apart from the training noise: the backbone metrics of
``eval.noise_draws`` independent latent draws give a std per metric (``EvalNoise``); the
values reported are those of the first draw, the samples of the sample stage. The output is
a ``ganbench.results.SeedResult``; every number sits next to its backbone version, sample
counts and seed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganbench.backbones import Backbone, BackboneOutput, get_backbone
from ganbench.config import EvalParams, JudgeParams, SampleParams
from ganbench.errors import InputError
from ganbench.io import atomic_dir, read_json, write_json, write_npz
from ganbench.metrics import (fid_features_to_statistics, frechet_distance,
                              inception_score_from_logits, kid, prdc, tstr)
from ganbench.metrics.modes import class_histogram, mode_kl, modes_covered
from ganbench.paths import JUDGE_DIR, REFERENCE_DIR
from ganbench.results import (BACKBONE_METRICS, TRANSLATION_METRICS, BackboneResult, EvalNoise,
                              ModesResult, SeedResult, TstrResult)

log = logging.getLogger(__name__)

REFERENCE_SPLIT = "test"
REAL = "real"
UNCONDITIONAL_REASON = "unconditional variant: samples carry no labels"
DISABLED_REASON = "disabled by eval.tstr: false"
REAL_TSTR_REASON = "the real row has no synthetic samples to train on"
NO_LOGITS_REASON = "this backbone has no class logits"
_RERUN_REFERENCE = "rerun `dvc repro reference`"


# --------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class Reference:
    """One backbone's features of the real reference images, and their FID statistics."""

    backbone: str
    version: str
    features: np.ndarray
    logits: np.ndarray | None
    mu: np.ndarray
    sigma: np.ndarray

    @property
    def n(self) -> int:
        return int(len(self.features))


def build_backbones(eval_params: EvalParams, judge_dir: str | Path,
                    device: torch.device) -> dict[str, Backbone]:
    """The backbones of ``eval.backbones``, in params order."""
    return {name: get_backbone(name, judge_dir=Path(judge_dir), eval_params=eval_params,
                               device=device) for name in eval_params.backbones}


def extract(backbone: Backbone, images: np.ndarray, batch_size: int) -> BackboneOutput:
    """Features (and logits) of uint8 images; a backbone's ValueError becomes an InputError."""
    try:
        return backbone.extract(images, batch_size)
    except ValueError as exc:
        raise InputError(f"backbone {backbone.name}: {exc}") from None


def make_reference(backbone: Backbone, images: np.ndarray, batch_size: int) -> Reference:
    out = extract(backbone, images, batch_size)
    stats = fid_features_to_statistics(out.features)
    return Reference(backbone.name, backbone.version, out.features, out.logits,
                     stats["mu"], stats["sigma"])


def save_reference(ref: Reference, path: str | Path) -> None:
    arrays = dict(features=ref.features, mu=ref.mu, sigma=ref.sigma,
                  backbone=np.array(ref.backbone), version=np.array(ref.version))
    if ref.logits is not None:
        arrays["logits"] = ref.logits
    write_npz(path, **arrays)


def load_reference(path: str | Path) -> Reference:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing; {_RERUN_REFERENCE}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            logits = archive["logits"] if "logits" in archive.files else None
            return Reference(_text(archive["backbone"]), _text(archive["version"]),
                             archive["features"], logits, archive["mu"], archive["sigma"])
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a reference statistics file ({exc}); "
                         f"{_RERUN_REFERENCE}") from None


def _text(array: np.ndarray) -> str:
    """A string saved as a one-element unicode array (``write_npz`` stores it 1-d)."""
    return str(np.asarray(array).reshape(-1)[0])


def pick_real_rows(n_available: int, n_wanted: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(n_wanted, n_available)`` rows drawn without replacement."""
    if n_wanted >= n_available:
        return np.arange(n_available)
    return np.sort(np.random.RandomState(seed).choice(n_available, n_wanted, replace=False))


def build_reference(eval_params: EvalParams, sample_params: SampleParams, prepared,
                    out_dir: str | Path = REFERENCE_DIR, judge_dir: str | Path = JUDGE_DIR,
                    device: torch.device | str = "cpu") -> dict:
    """Write ``out_dir/{<backbone>.npz, reference.json, floor.json}`` (atomically, as one
    folder). Returns the floor metrics (pseudo-variant ``real``)."""
    device = torch.device(device)
    backbones = build_backbones(eval_params, judge_dir, device)
    rows = pick_real_rows(len(prepared.train_labels), sample_params.n_samples, eval_params.seed)
    real_images = prepared.train_images[rows]
    refs, scores, outputs = {}, {}, {}
    for name, backbone in backbones.items():
        refs[name] = make_reference(backbone, prepared.test_images, eval_params.batch_size)
        generated = outputs[name] = extract(backbone, real_images, eval_params.batch_size)
        scores[name] = score_backbone(backbone, generated, refs[name], eval_params)
        log.info("reference %s: %d test images; real floor fid %.4g", name, refs[name].n,
                 scores[name].fid)
    meta = prepared.meta
    floor = SeedResult(
        variant=REAL, seed=None, status="ok", diverged_step=None, conditional=False,
        arch=None, loss=None, train=None,
        samples={"n": int(len(rows)), "seed": eval_params.seed, "class_balanced": False,
                 "ema": False, "split": "train"},
        reference={"split": REFERENCE_SPLIT, "n": int(len(prepared.test_labels))},
        backbones=scores, tstr=None, tstr_reason=REAL_TSTR_REASON,
        modes=mode_diagnostics(real_images, prepared, eval_params, judge_dir, device,
                               backbones.get("judge"), outputs.get("judge")))
    info = {"split": REFERENCE_SPLIT, "n": int(len(prepared.test_labels)),
            "source": meta.get("source"), "backbones": list(backbones),
            "versions": {name: b.version for name, b in backbones.items()},
            "feature_dims": {name: int(b.feature_dim) for name, b in backbones.items()},
            "image_shape": list(prepared.image_shape),
            "prepared_sha256": meta.get("sha256", {}).get(REFERENCE_SPLIT)}
    with atomic_dir(out_dir) as tmp:
        for name, ref in refs.items():
            save_reference(ref, tmp / f"{name}.npz")
        write_json(tmp / "reference.json", info)
        write_json(tmp / "floor.json", floor.to_json())
    return floor


# --------------------------------------------------------------------------- metrics


def score_backbone(backbone: Backbone, generated: BackboneOutput, ref: Reference,
                   eval_params: EvalParams) -> BackboneResult:
    """One backbone's entry of the metrics file: generated features vs the reference.

    FID from float64 Gaussian fits; KID with ``eval.kid_subsets`` subsets of
    min(``eval.kid_subset_size``, n_generated, n_real) (the size used is recorded); IS over
    ``eval.is_splits`` splits of the generated logits (null with ``is_reason`` when the
    backbone has none); PRDC with ``eval.prdc_k`` neighbours, input1 = generated.
    """
    if ref.version != backbone.version:
        raise InputError(f"data/reference/{backbone.name}.npz was computed with "
                         f"{ref.version!r}, but the backbone now is {backbone.version!r}; "
                         f"{_RERUN_REFERENCE}")
    seed = eval_params.seed
    feats = generated.features
    n_gen, n_real = len(feats), ref.n
    where = f"backbone {backbone.name}"
    k = eval_params.prdc_k
    if k >= min(n_gen, n_real):
        raise InputError(f"eval.prdc_k = {k}: the k-th nearest neighbour needs more than k "
                         f"images on each side, and there are {n_gen} generated and {n_real} "
                         f"real (test split) images; use eval.prdc_k < {min(n_gen, n_real)}")
    if generated.logits is not None and eval_params.is_splits > n_gen:
        raise InputError(f"eval.is_splits = {eval_params.is_splits}: each split needs at least "
                         f"one image, and there are {n_gen}; use eval.is_splits <= {n_gen}")
    try:
        gen_stats = fid_features_to_statistics(feats)
        fid = frechet_distance(gen_stats["mu"], gen_stats["sigma"], ref.mu, ref.sigma)
        kid_mean, kid_std = kid(feats, ref.features, subsets=eval_params.kid_subsets,
                                subset_size=eval_params.kid_subset_size, seed=seed)
        if generated.logits is not None:
            is_mean, is_std = inception_score_from_logits(generated.logits,
                                                          eval_params.is_splits, seed)
            is_reason = None
        else:
            is_mean = is_std = None
            is_reason = backbone.is_reason or NO_LOGITS_REASON
        quality = prdc(feats, ref.features, k=eval_params.prdc_k)
    except ValueError as exc:
        raise InputError(f"{where}: {exc} ({n_gen} generated, {n_real} real images)") from None
    return BackboneResult(
        backbone=backbone.name, version=backbone.version, feature_dim=int(feats.shape[1]),
        n_generated=int(n_gen), n_real=int(n_real), seed=seed,
        fid=_finite(fid, where, "fid"),
        kid_mean=_finite(kid_mean, where, "kid_mean"),
        kid_std=_finite(kid_std, where, "kid_std"),
        kid_subsets=eval_params.kid_subsets,
        kid_subset_size=int(min(eval_params.kid_subset_size, n_gen, n_real)),
        is_mean=None if is_mean is None else _finite(is_mean, where, "is_mean"),
        is_std=None if is_std is None else _finite(is_std, where, "is_std"),
        is_splits=eval_params.is_splits, is_reason=is_reason,
        **{key: _finite(value, where, key) for key, value in quality.items()},
        prdc_k=eval_params.prdc_k)


def judge_classes(images: np.ndarray, prepared, eval_params: EvalParams, judge_dir: str | Path,
                  device: torch.device, judge: Backbone | None = None,
                  judge_output: BackboneOutput | None = None) -> tuple[np.ndarray, str]:
    """The judge's arg-max class of each uint8 image, and the judge's version; ``judge`` /
    ``judge_output``: the judge backbone and its output on these images when
    ``eval.backbones`` already computed them."""
    if judge is None or judge_output is None:
        judge = get_backbone("judge", judge_dir=Path(judge_dir), eval_params=eval_params,
                             device=device)
        judge_output = extract(judge, images, eval_params.batch_size)
    classes = int(prepared.num_classes)
    if judge_output.logits.shape[1] != classes:
        raise InputError(f"the judge has {judge_output.logits.shape[1]} classes and the "
                         f"prepared data {classes}; rerun `dvc repro judge`")
    return judge_output.logits.argmax(axis=1), judge.version


def mode_diagnostics(images: np.ndarray, prepared, eval_params: EvalParams,
                     judge_dir: str | Path, device: torch.device,
                     judge: Backbone | None = None,
                     judge_output: BackboneOutput | None = None) -> ModesResult:
    """``modes_covered`` and ``mode_kl`` of uint8 ``images``: the judge's arg-max classes
    against the labels of the real test split. ``judge``/``judge_output``: the judge backbone
    and its output on these images when ``eval.backbones`` already computed them."""
    predicted, version = judge_classes(images, prepared, eval_params, judge_dir, device,
                                       judge, judge_output)
    classes = int(prepared.num_classes)
    histogram = class_histogram(predicted, classes)
    reference = class_histogram(np.asarray(prepared.test_labels), classes)
    return ModesResult(
        modes_covered=modes_covered(histogram, eval_params.mode_min_share),
        mode_kl=_finite(mode_kl(histogram, reference), "mode diagnostics", "mode_kl"),
        num_classes=classes, min_share=eval_params.mode_min_share,
        histogram=[round(float(h), 6) for h in histogram],
        reference=[round(float(r), 6) for r in reference], classifier=version)


def _finite(value: float, where: str, name: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{where}: {name} is {value} (non-finite features or logits?)")
    return value


# --------------------------------------------------------------------------- one variant


@dataclass(frozen=True)
class VariantInputs:
    """What the sample and train stages left for one variant."""

    images: np.ndarray      # uint8 N x C x H x W
    labels: np.ndarray      # int64 N, all -1 when unconditional
    samples: dict           # samples/<v>/samples.json
    model: dict             # models/<v>/weights/model.json


def load_variant_inputs(variant: str, samples_dir: str | Path,
                        weights_dir: str | Path) -> VariantInputs:
    """Read and check ``samples.npz``, ``samples.json`` and ``model.json`` of ``variant``."""
    samples_dir, weights_dir = Path(samples_dir), Path(weights_dir)
    npz = samples_dir / "samples.npz"
    if not npz.is_file():
        raise InputError(f"{npz}: missing; the sample stage writes it "
                         f"(dvc repro sample@{variant})")
    try:
        with np.load(npz, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{npz}: not a samples file with 'images' and 'labels' ({exc}); "
                         f"rerun dvc repro sample@{variant}") from None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise InputError(f"{npz}: images must be non-empty uint8 N x C x H x W, got "
                         f"{images.dtype} {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{npz}: labels must be {len(images)} integers, got {labels.dtype} "
                         f"{labels.shape}")
    samples = _read_json(samples_dir / "samples.json", f"dvc repro sample@{variant}")
    model = _read_json(weights_dir / "model.json", f"dvc repro train@{variant}")
    if samples.get("n") not in (None, len(images)):
        raise InputError(f"{samples_dir / 'samples.json'}: says n = {samples['n']}, but "
                         f"{npz} holds {len(images)} images; rerun dvc repro sample@{variant}")
    return VariantInputs(images, labels.astype(np.int64, copy=False), samples, model)


def _read_json(path: Path, rerun: str) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: missing; {rerun}")
    try:
        data = read_json(path)
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); {rerun}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object; {rerun}")
    return data


def load_references(eval_params: EvalParams, prepared, reference_dir: Path, judge_dir: Path,
                    device: torch.device) -> tuple[dict, dict[str, Backbone],
                                                   dict[str, Reference]]:
    """``(reference.json, backbones, their references)``, checked to come from
    ``prepared`` and to cover ``eval.backbones``."""
    ref_info = _read_json(reference_dir / "reference.json", _RERUN_REFERENCE)
    expected = prepared.meta.get("sha256", {}).get(REFERENCE_SPLIT)
    if ref_info.get("prepared_sha256") != expected:
        raise InputError(f"{reference_dir}: computed from other prepared data than "
                         f"data/prepared; {_RERUN_REFERENCE}")
    missing = [b for b in eval_params.backbones if b not in ref_info.get("backbones", [])]
    if missing:
        raise InputError(f"{reference_dir}: has no statistics for backbone(s) "
                         f"{', '.join(missing)}; {_RERUN_REFERENCE}")
    backbones = build_backbones(eval_params, judge_dir, device)
    refs = {name: load_reference(reference_dir / f"{name}.npz") for name in backbones}
    return ref_info, backbones, refs


def score_images(variant: str, images: np.ndarray, backbones: dict[str, Backbone],
                 refs: dict[str, Reference], eval_params: EvalParams
                 ) -> tuple[dict[str, BackboneResult], dict[str, BackboneOutput]]:
    """Every backbone's scores of uint8 ``images`` against its reference, and the backbone
    outputs (the judge's logits serve the class-based metrics)."""
    scores, outputs = {}, {}
    for name, backbone in backbones.items():
        generated = outputs[name] = extract(backbone, images, eval_params.batch_size)
        scores[name] = score_backbone(backbone, generated, refs[name], eval_params)
        log.info("%s %s: fid %.4g", variant, name, scores[name].fid)
    return scores, outputs


def evaluate_variant(variant: str, eval_params: EvalParams, judge_params: JudgeParams,
                     conditional: bool, inputs: VariantInputs, prepared,
                     reference_dir: str | Path = REFERENCE_DIR,
                     judge_dir: str | Path = JUDGE_DIR,
                     device: torch.device | str = "cpu",
                     tstr_device: torch.device | str = "cpu",
                     noise_draws: list[tuple[int, np.ndarray]] | None = None) -> SeedResult:
    """The metrics of one chain (``ganbench.results.SeedResult``).

    ``conditional``: the variant's ``variants.<v>.conditional`` (params are the truth; a
    model.json that disagrees is stale). ``prepared``: the prepared data (test split for
    TSTR). ``tstr_device``: where the TSTR classifier trains (``judge.device``).
    ``noise_draws``: further ``(latent seed, uint8 images)`` draws of the same generator; with
    them, ``eval_noise`` holds each backbone metric's std over all the draws.
    """
    reference_dir, judge_dir = Path(reference_dir), Path(judge_dir)
    device = torch.device(device)
    labels_given = bool(len(inputs.labels)) and bool((inputs.labels >= 0).all())
    if conditional and not labels_given:
        raise InputError(f"samples of conditional variant {variant!r} carry no labels (-1); "
                         f"rerun its sample stage")
    ref_info, backbones, refs = load_references(eval_params, prepared, reference_dir,
                                                judge_dir, device)
    scores, outputs = score_images(variant, inputs.images, backbones, refs, eval_params)
    modes = mode_diagnostics(inputs.images, prepared, eval_params, judge_dir, device,
                             backbones.get("judge"), outputs.get("judge"))
    log.info("%s modes: %d of %d classes, KL %.4f", variant, modes.modes_covered,
             modes.num_classes, modes.mode_kl)
    noise = None
    if noise_draws:
        noise = evaluation_noise(backbones, refs, scores, noise_draws, eval_params,
                                 int(inputs.samples.get("seed", 0)))

    result_tstr, reason = None, None
    if not conditional:
        reason = UNCONDITIONAL_REASON
    elif not eval_params.tstr:
        reason = DISABLED_REASON
    else:
        judge = _read_json(judge_dir / "judge.json", "dvc repro judge")
        try:
            result_tstr = TstrResult(**tstr(
                inputs.images, inputs.labels, prepared.test_images, prepared.test_labels,
                prepared.num_classes, judge_params, judge["trtr_accuracy"], eval_params.seed,
                tstr_device))
        except ValueError as exc:
            raise InputError(f"TSTR of {variant!r}: {exc}") from None
        log.info("%s tstr: accuracy %.4f (trtr %.4f)", variant, result_tstr.accuracy,
                 result_tstr.trtr_accuracy)

    model, samples = inputs.model, inputs.samples
    return SeedResult(
        variant=variant, seed=model.get("seed"),
        status=model.get("status", samples.get("status", "ok")),
        diverged_step=model.get("diverged_step"), conditional=bool(conditional),
        arch=model.get("arch"), loss=model.get("loss"),
        train={key: model.get(key) for key in ("steps", "epochs", "device")},
        samples={"n": int(len(inputs.images)), "seed": samples.get("seed"),
                 "class_balanced": samples.get("class_balanced"),
                 "ema": samples.get("ema", model.get("ema")),
                 "truncation_psi": samples.get("truncation_psi")},
        reference={"split": ref_info.get("split", REFERENCE_SPLIT), "n": ref_info.get("n")},
        backbones=scores, tstr=result_tstr, tstr_reason=reason, eval_noise=noise,
        modes=modes)


def evaluation_noise(backbones: dict[str, Backbone], refs: dict[str, Reference],
                     first: dict[str, BackboneResult], draws: list[tuple[int, np.ndarray]],
                     eval_params: EvalParams, first_seed: int) -> EvalNoise:
    """Each backbone metric's std (ddof=1) over the first draw and ``draws``: how much the
    number moves when only the latent codes change (the training seed fixed)."""
    values: dict[str, list[float]] = {}
    for name, scores in first.items():
        for key in BACKBONE_METRICS:
            if getattr(scores, key) is not None:
                values[f"{name}.{key}"] = [float(getattr(scores, key))]
    for _, images in draws:
        for name, backbone in backbones.items():
            scores = score_backbone(backbone, extract(backbone, images, eval_params.batch_size),
                                    refs[name], eval_params)
            for key in BACKBONE_METRICS:
                if f"{name}.{key}" in values:
                    values[f"{name}.{key}"].append(float(getattr(scores, key)))
    std = {key: float(np.std(v, ddof=1)) for key, v in values.items()}
    return EvalNoise(draws=1 + len(draws), latent_seeds=[first_seed] + [s for s, _ in draws],
                     std=std)


def write_metrics(result: SeedResult, path: str | Path) -> None:
    """Atomic, key-sorted JSON (``ganbench.io.write_json``)."""
    write_json(path, result.to_json())


def summary_line(result: SeedResult, stage: str) -> str:
    parts = [f"{name} fid {entry.fid:.4g}" for name, entry in result.backbones.items()]
    if result.tstr:
        parts.append(f"tstr {result.tstr.accuracy:.4f}")
    if result.translation:
        parts += [f"{key} {value:.4g}" for key in TRANSLATION_METRICS
                  if (value := getattr(result.translation, key)) is not None]
    if result.eval_noise:
        primary = next(iter(result.eval_noise.std.items()), None)
        if primary:
            parts.append(f"{primary[0]} evaluation noise ±{primary[1]:.3g} over "
                         f"{result.eval_noise.draws} latent draws")
    return f"{stage}: " + ", ".join(parts)
