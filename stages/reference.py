"""DVC stage ``reference``: params ``eval`` (backbone keys), ``sample.n_samples`` ->
``data/reference/{<backbone>.npz, reference.json, floor.json}``: real test-split features
per backbone, and the pseudo-variant ``real`` (held-out real train images scored like a
variant)."""

from pathlib import Path

from ganbench.config import load_section
from ganbench.data.prepared import PREPARED_DIR, load_prepared
from ganbench.device import pick_device
from ganbench.evaluation import build_reference
from ganbench.paths import JUDGE_DIR, REFERENCE_DIR
from ganbench.stage import run_stage


def main() -> None:
    eval_params = load_section("eval")
    sample_params = load_section("sample")
    prepared = load_prepared(Path(PREPARED_DIR))
    floor = build_reference(eval_params, sample_params, prepared, REFERENCE_DIR, JUDGE_DIR,
                            pick_device(eval_params.device))
    for name, entry in floor.backbones.items():
        print(f"reference {name}: {entry.n_real} test images; real floor "
              f"({entry.n_generated} train images): fid {entry.fid:.4g}, "
              f"precision {entry.precision:.3f}, recall {entry.recall:.3f}")


if __name__ == "__main__":
    run_stage("reference", main)
