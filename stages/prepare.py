"""DVC stage ``prepare``: params ``data`` and ``data/source.json`` ->
``data/prepared/{train,test}.npz, meta.json``."""

from pathlib import Path

from ganbench.config import load_section
from ganbench.data.prepare import prepare_dataset, summary_line
from ganbench.data.prepared import PREPARED_DIR
from ganbench.data.raw import SOURCE_FILE
from ganbench.io import read_json
from ganbench.stage import run_stage


def main() -> None:
    raw = None
    if SOURCE_FILE.is_file():  # the content digest only: a package upgrade that leaves the
        raw = {k: v for k, v in read_json(SOURCE_FILE).items()  # data as they were changes
               if k in ("files", "bytes", "sha256")}  # nothing downstream
    meta = prepare_dataset(load_section("data"), Path(PREPARED_DIR), raw=raw)
    print(summary_line(meta))


if __name__ == "__main__":
    run_stage("prepare", main)
