"""DVC stage ``judge``: params ``judge`` -> ``models/judge/{classifier.pt,judge.json}``,
``reports/judge.json`` (the TRTR baseline and the judge backbone)."""

from pathlib import Path

from ganbench import paths
from ganbench.classifier import run_judge
from ganbench.config import load_section
from ganbench.data.prepared import PREPARED_DIR, load_prepared
from ganbench.device import pick_device
from ganbench.stage import run_stage


def main() -> None:
    params = load_section("judge")
    prepared = load_prepared(Path(PREPARED_DIR))
    summary = run_judge(params, prepared, paths.JUDGE_DIR, paths.JUDGE_REPORT,
                        pick_device(params.device))
    print(f"judge: test accuracy {summary['trtr_accuracy']:.4f} ({summary['version']}, "
          f"{summary['n_train']} train / {summary['n_test']} test images)")


if __name__ == "__main__":
    run_stage("judge", main)
