"""A trained translator's outputs on the test split, its figure, and its scores.

Sampling (``sample@<v>-<s>`` of a translation variant): every test source of the task is
translated once (a translation is deterministic given its source: no latent draw). The
translations go to ``samples/<v>/seed<s>/samples.npz`` (``images``, and ``labels``: the source
images' classes), so the backbones score them exactly as they score generated samples;
``translations.npz`` keeps the ``sources`` and, for CycleGAN, the ``cycle`` reconstructions
A -> B -> A; ``triplets.png`` shows input | output | target (paired) or
input | A->B | A->B->A (unpaired) for the first test image of each class.

Scoring (``evaluate@<v>-<s>``): FID, KID, IS and precision/recall of the translations against
the real test split (the reference of every variant); ``class_preservation``, the judge's
accuracy on the translations against the source labels (a 3 turned into a realistic 8 is a
failure: the role TSTR plays for conditional generators); for a paired task L1, PSNR and SSIM
against the ground-truth target (``ganbench.metrics.image_quality``); for an unpaired task
``cycle_l1``, the L1 of A -> B -> A to A.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganbench.config import EvalParams
from ganbench.data.tasks import TaskData
from ganbench.errors import InputError
from ganbench.evaluation import (REFERENCE_SPLIT, VariantInputs, judge_classes, load_references,
                                 score_images)
from ganbench.images import signed_to_uint8, uint8_to_signed
from ganbench.io import write_npz
from ganbench.metrics.image_quality import l1_error, psnr, ssim, ssim_window, total_variation
from ganbench.results import SeedResult, TranslationResult
from ganbench.sampling import save_grid

log = logging.getLogger(__name__)

TRANSLATIONS_FILE = "translations.npz"
TRIPLETS_FILE = "triplets.png"
TRIPLETS_PER_ROW = 2
TSTR_REASON = "translation variant: it generates no labelled samples of its own"


@torch.no_grad()
def translate(generator: nn.Module, sources: np.ndarray, device: torch.device | str = "cpu",
              batch_size: int = 500) -> np.ndarray:
    """uint8 sources -> uint8 translations (``generator`` in eval mode)."""
    device = torch.device(device)
    out = [signed_to_uint8(generator(uint8_to_signed(sources[i:i + batch_size]).to(device))
                           .float()).cpu() for i in range(0, len(sources), batch_size)]
    return torch.cat(out).numpy() if out else sources[:0].copy()


def representatives(labels: np.ndarray, count: int = 10) -> np.ndarray:
    """Indices of the first test image of each class, in class order, then the next images
    up to ``count`` (a fixed rule: the figure never shows a picked-by-eye example)."""
    labels = np.asarray(labels)
    firsts = [int(np.flatnonzero(labels == k)[0]) for k in np.unique(labels)][:count]
    rest = [i for i in range(len(labels)) if i not in set(firsts)]
    return np.array((firsts + rest)[:count], dtype=np.int64)


def save_triplets(sources: np.ndarray, outputs: np.ndarray, third: np.ndarray,
                  labels: np.ndarray, path: str | Path) -> None:
    """``TRIPLETS_PER_ROW`` triplets (input, output, target or cycle) per row."""
    pick = representatives(labels)
    tiles = np.stack([sources[pick], outputs[pick], third[pick]], axis=1)
    save_grid(tiles.reshape(-1, *sources.shape[1:]), path, columns=3 * TRIPLETS_PER_ROW)


def write_translations(generator: nn.Module, info: dict, task: TaskData, out_dir: Path,
                       device: torch.device) -> dict:
    """Translate the task's test split into ``out_dir`` (``samples.npz``,
    ``translations.npz``, ``triplets.png``); returns what ``samples.json`` records."""
    outputs = translate(generator, task.test_source, device)
    write_npz(out_dir / "samples.npz", images=outputs, labels=task.test_source_labels)
    arrays = {"sources": task.test_source}
    if task.paired:
        third = task.test_target
    else:
        third = arrays["cycle"] = translate(generator.ba, outputs, device)
    write_npz(out_dir / TRANSLATIONS_FILE, **arrays)
    save_triplets(task.test_source, outputs, third, task.test_source_labels,
                  out_dir / TRIPLETS_FILE)
    return {"n": int(len(outputs)), "task": task.task, "paired": task.paired,
            "split": REFERENCE_SPLIT, "seed": None, "class_balanced": False,
            "conditional": False, "ema": bool(info.get("ema_used")), "truncation_psi": None}


def read_translations(samples_dir: Path, n: int, paired: bool, chain: str) -> dict:
    """``translations.npz`` of one chain, checked against its ``n`` translations."""
    path = samples_dir / TRANSLATIONS_FILE
    rerun = f"rerun `dvc repro sample@{chain}`"
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: missing or unreadable ({exc}); {rerun}") from None
    needed = ["sources"] + ([] if paired else ["cycle"])
    for key in needed:
        if key not in arrays or len(arrays[key]) != n or arrays[key].dtype != np.uint8:
            raise InputError(f"{path}: needs {n} uint8 images under {key!r}; {rerun}")
    return arrays


def psnr_cap(image_shape: tuple[int, ...]) -> float:
    """The PSNR of the smallest error a uint8 image can show (one grey level in one pixel):
    what a pixel-exact translation is given instead of +inf, so the mean stays finite."""
    pixels = int(np.prod(image_shape))
    return float(10.0 * math.log10(255.0 ** 2 * pixels))


def score_translation(outputs: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                      targets: np.ndarray | None, sources: np.ndarray,
                      cycle: np.ndarray | None, task: str, classifier: str,
                      real: np.ndarray | None = None) -> TranslationResult:
    """Class preservation, sharpness (the outputs' mean total variation over that of ``real``,
    the real images they are scored against; default ``targets``), and L1/PSNR/SSIM (paired)
    or the cycle L1 (unpaired), each the mean over the translated test images (pixels in
    [0, 1])."""
    unit = outputs.astype(np.float64) / 255.0
    paired = targets is not None
    real = targets if real is None else real
    sharpness = None
    if real is not None:
        sharpness = float(total_variation(unit).mean()
                          / total_variation(real.astype(np.float64) / 255.0).mean())
    l1 = peak = structure = cycle_l1 = None
    cap = psnr_cap(outputs.shape[1:])
    if paired:
        target = targets.astype(np.float64) / 255.0
        l1 = float(l1_error(unit, target).mean())
        peak = float(np.minimum(psnr(unit, target), cap).mean())
        structure = float(ssim(unit, target).mean())
    if cycle is not None:
        cycle_l1 = float(l1_error(cycle.astype(np.float64) / 255.0,
                                  sources.astype(np.float64) / 255.0).mean())
    return TranslationResult(
        task=task, paired=paired, n=int(len(outputs)),
        class_preservation=float((np.asarray(predicted) == np.asarray(labels)).mean()),
        l1=l1, psnr=peak, ssim=structure, cycle_l1=cycle_l1, classifier=classifier,
        ssim_window=ssim_window(*outputs.shape[2:])[0] if paired else None,
        psnr_cap=cap if paired else None, sharpness=sharpness)


def evaluate_translation(variant: str, eval_params: EvalParams, inputs: VariantInputs,
                         translations: dict, prepared, reference_dir: str | Path,
                         judge_dir: str | Path, device: torch.device | str = "cpu"
                         ) -> SeedResult:
    """The metrics of one translation chain (``ganbench.results.SeedResult`` with
    ``translation`` set): the backbone metrics of the translations against the real test
    split, and ``score_translation``."""
    device = torch.device(device)
    model, samples = inputs.model, inputs.samples
    task, paired = samples.get("task"), bool(samples.get("paired"))
    if paired and len(inputs.images) != len(prepared.test_images):
        raise InputError(f"{variant}: {len(inputs.images)} translations for "
                         f"{len(prepared.test_images)} test targets; rerun its sample stage")
    ref_info, backbones, refs = load_references(eval_params, prepared, Path(reference_dir),
                                                Path(judge_dir), device)
    scores, outputs = score_images(variant, inputs.images, backbones, refs, eval_params)
    predicted, version = judge_classes(inputs.images, prepared, eval_params, judge_dir, device,
                                       backbones.get("judge"), outputs.get("judge"))
    scored = score_translation(inputs.images, inputs.labels, predicted,
                               prepared.test_images if paired else None,
                               translations["sources"], translations.get("cycle"), task,
                               version, real=prepared.test_images)
    log.info("%s: class preservation %.4f", variant, scored.class_preservation)
    return SeedResult(
        variant=variant, seed=model.get("seed"), status=model.get("status", "ok"),
        diverged_step=model.get("diverged_step"), conditional=False, arch=model.get("arch"),
        loss=model.get("loss"),
        train={key: model.get(key) for key in ("steps", "epochs", "device")},
        samples={"n": int(len(inputs.images)), "seed": None, "class_balanced": False,
                 "ema": False, "truncation_psi": None, "task": task, "split": REFERENCE_SPLIT},
        reference={"split": ref_info.get("split", REFERENCE_SPLIT), "n": ref_info.get("n")},
        backbones=scores, tstr=None, tstr_reason=TSTR_REASON, task=task, translation=scored)
