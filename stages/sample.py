"""DVC stage ``sample@<variant>-<seed>``: fixed-seed samples of one chain's generator, a sample
grid, an interpolation strip, for a conditional variant a class sweep (fixed z, every class)
and for a StyleGAN its style-mixing grid."""

from __future__ import annotations


import numpy as np

from ganbench import paths
from ganbench.config import load_section
from ganbench.io import atomic_dir, write_json, write_npz
from ganbench.stage import run_stage, stage_target


SWEEP_ROWS = 6  # fixed codes of the class sweep
MIXING_SOURCES = 5  # row and column sources of StyleGAN's style-mixing grid


def main() -> None:
    variant, seed = stage_target("sample")
    params = load_section("sample")
    cfg = load_section(f"variants.{variant}")

    from ganbench.device import pick_device
    from ganbench.sampling import (class_sweep, generate, interpolation, load_generator,
                                   save_grid, style_mixing)

    device = pick_device(cfg.device)
    generator, info = load_generator(paths.weights_dir(variant, seed), device,
                                     truncation_psi=params.truncation_psi)
    if cfg.is_translation:
        translate_test_split(variant, seed, cfg, generator, info, device)
        return
    images, labels = generate(generator, info, params.n_samples, params.seed, device)
    stored = labels if labels is not None else np.full(len(images), -1, np.int64)
    with atomic_dir(paths.samples_dir(variant, seed)) as out:
        write_npz(out / "samples.npz", images=images, labels=stored)
        save_grid(images, out / "grid.png", columns=params.grid_columns, labels=labels)
        interpolation(generator, info, params.interpolation_steps, params.seed, device,
                      path=out / "interpolation.png")
        if info["conditional"]:
            class_sweep(generator, info, SWEEP_ROWS, params.seed, device,
                        path=out / "class_sweep.png")
        if info["arch"] == "stylegan":
            style_mixing(generator, info, MIXING_SOURCES, params.seed,
                         path=out / "style_mixing.png")
        write_json(out / "samples.json", {
            "variant": variant, "train_seed": seed, "n": int(len(images)), "seed": params.seed,
            "class_balanced": labels is not None, "conditional": bool(info["conditional"]),
            "ema": bool(info["ema_used"]), "truncation_psi": info["truncation_psi"],
            "status": info["status"],
            "diverged_step": info["diverged_step"]})
    print(f"sample@{paths.chain_name(variant, seed)}: {len(images)} images "
          f"({'EMA' if info['ema_used'] else 'raw'} weights, status {info['status']}) -> "
          f"{paths.samples_dir(variant, seed)}")


def translate_test_split(variant: str, seed: int, cfg, generator, info: dict, device) -> None:
    """A translator's sample stage: its task's test sources, translated
    (``ganbench.translation``)."""
    from ganbench.data.prepared import load_prepared
    from ganbench.data.tasks import load_task
    from ganbench.translation import write_translations

    task = load_task(cfg.task, load_prepared(paths.PREPARED_DIR), paths.TASKS_DIR)
    with atomic_dir(paths.samples_dir(variant, seed)) as out:
        record = write_translations(generator, info, task, out, device)
        write_json(out / "samples.json", {"variant": variant, "train_seed": seed, **record,
                                          "status": info["status"],
                                          "diverged_step": info["diverged_step"]})
    print(f"sample@{paths.chain_name(variant, seed)}: {record['n']} test images translated "
          f"({cfg.task}, status {info['status']}) -> {paths.samples_dir(variant, seed)}")


if __name__ == "__main__":
    run_stage("sample", main)
