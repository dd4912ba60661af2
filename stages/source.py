"""DVC stage ``source`` (runs on every ``dvc repro``): params ``data`` -> ``data/source.json``,
the identity of the raw data (``ganbench.data.raw``), and under ``domain_a`` that of the
unpaired translation task's source domain; torchvision files are downloaded here when
``data.download`` allows it."""

from ganbench.config import load_section
from ganbench.data.tasks import domain_a_params
from ganbench.data.raw import SOURCE_FILE, raw_identity, summary_line
from ganbench.io import write_json
from ganbench.stage import run_stage


def main() -> None:
    params = load_section("data")
    identity = raw_identity(params)
    # the unpaired translation task's domain A (scikit-learn's digits), whatever data.source
    # is: the `tasks` stage reruns when that package's data change
    identity["domain_a"] = raw_identity(domain_a_params(params))
    write_json(SOURCE_FILE, identity)
    print(summary_line(identity, params))


if __name__ == "__main__":
    run_stage("source", main)
