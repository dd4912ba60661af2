"""Where each stage's outputs live: the one owner of the output paths (dvc.yaml spells the
same paths with ``${item.variant}`` / ``${item.seed}``; a test keeps the two in step).

Per (variant, seed) chain::

    models/<v>/seed<s>/weights/      train: generator.pt (+ generator_ema.pt), model.json
    models/<v>/seed<s>/train_log.tsv train: per-step losses (DVC plots)
    samples/<v>/seed<s>/             sample: samples.npz, samples.json, grid.png, interpolation.png
                                     (a translator: samples.npz, samples.json,
                                     translations.npz, triplets.png)
    reports/metrics/<v>/seed<s>.json evaluate: that chain's metrics

Shared: ``data/prepared``, ``data/tasks`` (translation domains), ``models/judge``,
``data/reference``; aggregated:
``reports/metrics.json`` (aggregate), ``reports/comparisons.json`` (pairwise), and the report.
"""

from __future__ import annotations

from pathlib import Path

PREPARED_DIR = Path("data/prepared")
TASKS_DIR = Path("data/tasks")
REFERENCE_DIR = Path("data/reference")
JUDGE_DIR = Path("models/judge")
JUDGE_REPORT = Path("reports/judge.json")
METRICS_DIR = Path("reports/metrics")
AGGREGATE_FILE = Path("reports/metrics.json")
COMPARISONS_FILE = Path("reports/comparisons.json")


def seed_dir(seed: int) -> str:
    return f"seed{int(seed)}"


def chain_dir(variant: str, seed: int) -> Path:
    """``models/<v>/seed<s>``: what training leaves for one chain."""
    return Path("models") / variant / seed_dir(seed)


def weights_dir(variant: str, seed: int) -> Path:
    return chain_dir(variant, seed) / "weights"


def train_log(variant: str, seed: int) -> Path:
    return chain_dir(variant, seed) / "train_log.tsv"


def samples_dir(variant: str, seed: int) -> Path:
    return Path("samples") / variant / seed_dir(seed)


def seed_metrics(variant: str, seed: int) -> Path:
    return METRICS_DIR / variant / f"{seed_dir(seed)}.json"


def chain_name(variant: str, seed: int) -> str:
    """``cgan-0``: the matrix key of DVC's stage names (``train@cgan-0``)."""
    return f"{variant}-{int(seed)}"


def chain_of(weights: str | Path) -> str:
    """The chain name (``cgan-0``) of a ``models/<v>/seed<s>/weights`` folder, for messages."""
    chain = Path(weights).parent
    if chain.name.startswith("seed") and chain.name[4:].isdigit():
        return chain_name(chain.parent.name, int(chain.name[4:]))
    return chain.name
