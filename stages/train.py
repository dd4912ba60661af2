"""DVC stage ``train@<variant>``: train one variant, log it to its own MLflow run."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

from ganbench.config import load_section
from ganbench.data.prepared import load_prepared
from ganbench.io import atomic_dir
from ganbench.stage import run_stage
from ganbench.tracking import RUN_FILE, fingerprint, project_root, start_variant_run


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python stages/train.py <variant>")
    variant = sys.argv[1]
    cfg = load_section(f"variants.{variant}")
    prepared = load_prepared(Path("data/prepared"))

    import mlflow

    from ganbench.training import train_variant
    from ganbench.tracking_buffer import MetricBuffer

    settings = dataclasses.asdict(cfg)
    stamp = fingerprint(settings, prepared.meta["sha256"])
    out = Path("models") / variant
    cache = project_root() / ".ganbench-cache" / "checkpoints"
    with atomic_dir(out / "weights") as weights:
        log_tmp = weights / "train_log.tsv"
        with start_variant_run(variant, f"train@{variant}", stamp, settings,
                               weights / RUN_FILE) as run:
            mlflow.log_params({"data.source": prepared.meta["source"],
                               "data.n_train": len(prepared.train_labels)})
            buffer = MetricBuffer(run.info.run_id)
            result = train_variant(variant, cfg, prepared.train_images, prepared.train_labels,
                                   prepared.num_classes, weights, log_tmp, cache, stamp,
                                   on_log=buffer.add)
            buffer.flush()
            mlflow.set_tags({"status": result.status,
                             "diverged_step": str(result.diverged_step)})
            mlflow.log_metrics({"train_seconds": result.seconds, "train_steps": result.steps})
            _log_grid(weights, mlflow)
        shutil.move(log_tmp, out / "train_log.tsv")
    print(f"train@{variant}: {result.status} after {result.steps} steps in "
          f"{result.seconds:.0f} s on {result.device}")


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
