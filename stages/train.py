"""DVC stage ``train@<variant>-<seed>``: train one variant with one training seed, logged to its
own MLflow run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ganbench import paths
from ganbench.checkpoint import checkpoint_dir, training_fingerprint
from ganbench.config import load_section
from ganbench.data.prepared import load_prepared
from ganbench.io import atomic_dir
from ganbench.stage import run_stage, stage_target
from ganbench.tracking import project_root, start_variant_run


MLFLOW_POINTS = 200  # per-step curves in MLflow (train_log.tsv keeps every row)


def main() -> None:
    variant, seed = stage_target("train")
    cfg = load_section(f"variants.{variant}")
    prepared = load_prepared(paths.PREPARED_DIR)

    import mlflow

    from ganbench.training import train_variant
    from ganbench.tracking_buffer import MetricBuffer

    settings = dataclasses.asdict(cfg)
    images, labels, targets = prepared.train_images, prepared.train_labels, None
    if cfg.is_translation:  # the task's source domain, into the prepared images
        from ganbench.data.tasks import load_task

        task = load_task(cfg.task, prepared, paths.TASKS_DIR)
        images, targets = task.train_source, task.train_target
    stamp = training_fingerprint(settings, seed, prepared.meta["sha256"],
                                 images if cfg.is_translation else None)
    cache = checkpoint_dir(project_root())  # $GANBENCH_CHECKPOINT_DIR on a cluster
    stage = f"train@{paths.chain_name(variant, seed)}"
    with start_variant_run(variant, seed, stage, stamp, settings) as log:
        log.call("data params", lambda: mlflow.log_params(
            {"data.source": prepared.meta["source"], "data.n_train": len(images),
             "task": cfg.task}))
        buffer = MetricBuffer(log)
        with atomic_dir(paths.weights_dir(variant, seed)) as weights:
            result = train_variant(variant, cfg, images, labels, prepared.num_classes, weights,
                                   paths.train_log(variant, seed), cache, stamp,
                                   on_log=buffer.add, seed=seed, on_log_points=MLFLOW_POINTS,
                                   targets_u8=targets)
        buffer.flush()
        log.call("status tags", lambda: mlflow.set_tags(
            {"status": result.status, "diverged_step": str(result.diverged_step)}))
        log.call("training time", lambda: mlflow.log_metrics(
            {"train_seconds": result.seconds, "train_steps": result.steps}))
        if not cfg.is_translation:  # translators show their triplets in the sample stage
            log.call("the sample grid",
                     lambda: _log_grid(paths.weights_dir(variant, seed), mlflow))
    print(f"{stage}: {result.status} after {result.steps} steps in {result.seconds:.0f} s on "
          f"{result.device}")


def _log_grid(weights: Path, mlflow) -> None:
    """A sample grid of the trained generator, as an artifact of the variant's run."""
    import tempfile

    from ganbench.device import pick_device
    from ganbench.sampling import generate, load_generator, save_grid

    device = pick_device("auto")
    generator, info = load_generator(weights, device)
    images, labels = generate(generator, info, 100, seed=0, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train_grid.png"
        save_grid(images, path, columns=10, labels=labels)
        mlflow.log_artifact(str(path))


if __name__ == "__main__":
    run_stage("train", main)
