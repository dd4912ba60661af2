"""Fréchet distance on 2048-d statistics: ganbench (Cholesky + eigvalsh) vs pytorch-fid's method
(scipy.linalg.sqrtm of S1 S2) vs torch-fidelity's ``fid_statistics_to_metric``.

Statistics are realistic: np.cov of 5000 x 2048 features with a decaying spectrum and
correlated dimensions (like Inception pool3), the two sets differing in mean and covariance.
Prints time (best of ``--repeat``) and value of each method and our speed-up; exits 1 when a
value disagrees with ours beyond 1e-6 relative. Run: ``python benchmarks/fid_speed.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import scipy.linalg

from ganbench.metrics.fid import fid_features_to_statistics, frechet_distance

REL = 1e-6


def features(rng: np.random.Generator, n: int, d: int, shift: float, warp: float) -> np.ndarray:
    spectrum = 1.0 / np.sqrt(1.0 + np.arange(d))           # decaying, like real features
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    mix = (basis * spectrum) @ basis.T
    mix += warp * rng.normal(size=(d, d)) / d               # the second set: another shape
    x = rng.normal(size=(n, d)) @ mix
    return np.abs(x + shift)                                # post-ReLU-like, non-negative


def pytorch_fid(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float:
    """pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm of the product)."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))  # `disp` is deprecated (gone in 1.18)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def torch_fidelity_fid(s1, s2) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    return float(fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"])


def timed(methods: dict, repeat: int) -> dict[str, tuple[float, float]]:
    """Best time and value of each method, the methods interleaved (round-robin), so that a
    burst of load on a shared machine does not favour one of them."""
    best = {name: (float("inf"), None) for name in methods}
    for _ in range(repeat):
        for name, fn in methods.items():
            start = time.perf_counter()
            value = fn()
            best[name] = (min(best[name][0], time.perf_counter() - start), value)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    s1 = fid_features_to_statistics(features(rng, args.n, args.dim, 0.5, 0.0))
    s2 = fid_features_to_statistics(features(rng, args.n, args.dim, 0.6, 2.0))
    methods = {
        "ganbench (cholesky + eigvalsh)":
            lambda: frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"]),
        "pytorch-fid (scipy.linalg.sqrtm)":
            lambda: pytorch_fid(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"]),
    }
    try:
        import torch_fidelity  # noqa: F401
        methods["torch-fidelity (fid_statistics_to_metric)"] = lambda: torch_fidelity_fid(s1, s2)
    except ImportError:
        print("torch-fidelity not installed: skipped")
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(f"Fréchet distance of {args.n} x {args.dim} feature statistics (best of "
          f"{args.repeat}, interleaved; numpy {np.__version__}, scipy {scipy.__version__}, "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={threads})")
    results = timed(methods, args.repeat)
    ours_t, ours_v = results["ganbench (cholesky + eigvalsh)"]
    ok = True
    for name, (seconds, value) in results.items():
        rel = abs(value - ours_v) / abs(ours_v)
        speed = seconds / ours_t
        print(f"  {name:44s} {seconds:8.3f} s  FID {value:.10f}  rel diff {rel:.1e}  "
              f"ours is {speed:.1f}x faster" if name != "ganbench (cholesky + eigvalsh)" else
              f"  {name:44s} {seconds:8.3f} s  FID {value:.10f}")
        ok &= rel <= REL
    if not ok:
        print(f"values disagree beyond {REL:g} relative", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
