"""Training throughput of ``train_variant`` against a plain loop on the same modules, and the
fixed cost of a pipeline stage. Prints ratios measured in one run, on this machine.

    python benchmarks/train_speed.py                # default dcgan of params.yaml
    python benchmarks/train_speed.py --variant cgan --rounds 5 --steps 200

The reference is the plain pytorch/examples DCGAN loop, as written there: the same generator,
discriminator, optimisers, batch and data (real batches drawn from the same in-memory tensor),
the default memory format, and the discriminator step's fakes reused for the generator step.
A second plain loop draws fresh noise for the generator step (``reuse_fake: false``).
``train_variant`` runs with the variant's own settings (``channels_last``, ``reuse_fake``,
...) and does everything it does per step (logging, divergence checks, EMA when set).
Rounds alternate between the contenders and the median images/s is reported, so a machine
that speeds up or slows down during the run biases no one.

Fixed cost per stage: the wall time of a Python process that imports what each stage
imports (and builds an optimiser, for train), and DVC's own time per stage, measured by
``dvc repro`` of no-op stages in a throw-away repository.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganbench import losses  # noqa: E402
from ganbench.config import VariantParams, load_all, validate_section  # noqa: E402
from ganbench.models import build_models  # noqa: E402
from ganbench.training import _optimizer, train_variant  # noqa: E402


def data(n: int = 4000, shape=(1, 28, 28)) -> tuple[np.ndarray, np.ndarray]:
    """mnist5k-like uint8 images (random: throughput does not depend on content)."""
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (n, *shape), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.int64))


def plain_loop(cfg, images, labels, steps: int, reuse: bool) -> float:
    """images/s of the pytorch/examples loop (non-saturating BCE) on the same modules."""
    torch.manual_seed(0)
    models = build_models(cfg, tuple(images.shape[1:]), 10)
    G, D = models.generator, models.discriminator
    opt_g, opt_d = _optimizer(cfg, G.parameters(), cfg.lr_g), _optimizer(cfg, D.parameters(),
                                                                          cfg.lr_d)
    data_t = torch.as_tensor(images)
    lab_t = torch.as_tensor(labels) if cfg.conditional else None
    b = cfg.batch_size
    gen = torch.Generator().manual_seed(0)

    def run(n_steps: int) -> None:
        for _ in range(n_steps):
            idx = torch.randint(len(data_t), (b,), generator=gen)
            real = data_t[idx].float().div_(127.5).sub_(1)
            y = lab_t[idx] if lab_t is not None else None
            fake = G(torch.randn(b, G.z_dim, generator=gen), y)
            loss_d = losses.discriminator_loss("nonsaturating", D(real, y),
                                               D(fake.detach(), y), 0.0)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            if not reuse:
                fake = G(torch.randn(b, G.z_dim, generator=gen), y)
            loss_g = losses.generator_loss("nonsaturating", D(fake, y))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()

    run(5)  # warm-up
    start = time.perf_counter()
    run(steps)
    return steps * b / (time.perf_counter() - start)


def ganbench_loop(cfg, images, labels, steps: int) -> float:
    """images/s of train_variant (everything it does per step: logging, divergence checks,
    EMA when set), timed over whole epochs of ``steps`` steps."""
    n = steps * cfg.batch_size
    epoch_cfg = validate_section(VariantParams, {**cfg_dict(cfg), "epochs": 1}, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warm = validate_section(VariantParams, {**cfg_dict(cfg), "epochs": 1}, "bench")
        train_variant("warm", warm, images[:5 * cfg.batch_size], labels[:5 * cfg.batch_size],
                      10, tmp / "w0", tmp / "l0.tsv", tmp / "c", "w", progress=False)
        start = time.perf_counter()
        train_variant("bench", epoch_cfg, images[:n], labels[:n], 10, tmp / "w", tmp / "l.tsv",
                      tmp / "c", "b", progress=False, checkpoint_seconds=1e9)
        return n / (time.perf_counter() - start)


def cfg_dict(cfg) -> dict:
    import dataclasses
    return dataclasses.asdict(cfg)


def process_seconds(code: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dvc_seconds_per_stage(stages: int = 8) -> float:
    """DVC's own time per stage: `dvc repro` of no-op `python -c pass` stages, minus the
    Python start-ups."""
    dvc = str(Path(sys.executable).with_name("dvc"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
        subprocess.run([dvc, "init", "-q"], cwd=tmp, check=True)
        lines = ["stages:"]
        for i in range(stages):
            lines += [f"  s{i}:", f"    cmd: {sys.executable} -c pass && echo {i} > o{i}",
                      f"    outs: [o{i}]"]
        Path(tmp, "dvc.yaml").write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        subprocess.run([dvc, "repro", "-q"], cwd=tmp, check=True)
        total = time.perf_counter() - start
    python = process_seconds("pass", 3)
    return total / stages - python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="dcgan")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_all(ROOT / "params.yaml")["variants"][args.variant]
    images, labels = data()
    print(f"{args.variant}: arch {cfg.arch}, width {cfg.width}, batch {cfg.batch_size}, "
          f"{'conditional, ' if cfg.conditional else ''}n_critic {cfg.n_critic}, "
          f"channels_last {cfg.channels_last}, reuse_fake {cfg.reuse_fake}; "
          f"{args.threads} torch threads, {args.steps} steps x {args.rounds} rounds")
    results: dict[str, list[float]] = {"plain loop (pytorch/examples)": [],
                                       "plain loop, fresh noise for G": [], "train_variant": []}
    for _ in range(args.rounds):
        results["plain loop (pytorch/examples)"].append(
            plain_loop(cfg, images, labels, args.steps, True))
        results["plain loop, fresh noise for G"].append(
            plain_loop(cfg, images, labels, args.steps, False))
        results["train_variant"].append(ganbench_loop(cfg, images, labels, args.steps))
    medians = {k: statistics.median(v) for k, v in results.items()}
    for name, value in medians.items():
        print(f"  {name:32s} {value:8.0f} images/s")
    ours = medians["train_variant"]
    for name in ("plain loop (pytorch/examples)", "plain loop, fresh noise for G"):
        print(f"  train_variant / {name}: {ours / medians[name]:.2f}x")
    print("fixed cost per stage (median of 3 process starts):")
    costs = {
        "python": "pass",
        "train imports (torch, mlflow, ganbench, an optimiser)":
            "import torch, mlflow, ganbench.training, ganbench.tracking; "
            "torch.optim.Adam(torch.nn.Linear(2, 2).parameters())",
        "sample imports (torch, ganbench.sampling)": "import torch, ganbench.sampling",
        "evaluate imports (torch, ganbench.evaluation; no MLflow)":
            "import torch, ganbench.evaluation",
        "report imports (MLflow, ganbench.report, matplotlib)":
            "import mlflow, ganbench.report, ganbench.report.figures, ganbench.tracking",
    }
    for name, code in costs.items():
        print(f"  {name:55s} {process_seconds(code):5.2f} s")
    print(f"  {'DVC per stage (lock and hashing, no work)':55s} {dvc_seconds_per_stage():5.2f} s")


if __name__ == "__main__":
    main()
