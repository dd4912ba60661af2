"""DVC stage ``prepare``: params ``data`` -> ``data/prepared/{train,test}.npz, meta.json``."""

from pathlib import Path

from ganbench.config import load_section
from ganbench.data.prepare import prepare_dataset, summary_line
from ganbench.data.prepared import PREPARED_DIR
from ganbench.stage import run_stage


def main() -> None:
    meta = prepare_dataset(load_section("data"), Path(PREPARED_DIR))
    print(summary_line(meta))


if __name__ == "__main__":
    run_stage("prepare", main)
