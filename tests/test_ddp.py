"""One variant on two processes with DistributedDataParallel: gloo on the CPU, as the same code
runs with NCCL on GPUs (``ganbench.distributed``; ``variants.<v>.devices``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganbench import distributed
from ganbench.checkpoint import checkpoint_path
from ganbench.config import ParamsError, VariantParams, validate_section
from ganbench.errors import DeviceError
from ganbench.models import build_models
from ganbench.seeding import seed_everything
from ganbench.training import LOG_COLUMNS, train_variant


def make_cfg(**spec) -> VariantParams:
    base = {"arch": "dcgan", "width": 8, "z_dim": 6, "batch_size": 8, "epochs": 2,
            "devices": 2, "device": "cpu"}
    return validate_section(VariantParams, {**base, **spec}, "variants.x")


def tiny_data(n=64, shape=(1, 8, 8), classes=3):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (n, *shape), dtype=np.uint8),
            rng.integers(0, classes, n).astype(np.int64))


def train_two(tmp_path, cfg, name, fingerprint="fp", on_log=None, **kwargs):
    """Rank 0 in this process, writing under ``tmp_path/name``; rank 1 spawned with folders of
    its own (``name-rank1``), where it must write nothing."""
    images, labels = tiny_data()
    out, other = tmp_path / name, tmp_path / f"{name}-rank1"
    common = dict(seed=0, progress=False, **kwargs)
    with distributed.launch(2, "cpu", train_variant, "x", cfg, images, labels, 3,
                            other / "weights", other / "log.tsv", other / "cache", fingerprint,
                            **common):
        result = train_variant("x", cfg, images, labels, 3, out / "weights", out / "log.tsv",
                               tmp_path / "cache", fingerprint, on_log, **common)
    return result, out, other


def weights(out, name="generator.pt"):
    return torch.load(out / "weights" / name, weights_only=True)


def log_rows(out):
    lines = (out / "log.tsv").read_text().splitlines()
    assert tuple(lines[0].split("\t")) == LOG_COLUMNS
    return [dict(zip(LOG_COLUMNS, line.split("\t"))) for line in lines[1:]]


class Interrupt(Exception):
    pass


def _stop_at(limit):
    def on_log(metrics, step):
        if step >= limit:
            raise Interrupt(step)
    return on_log


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    """The default dcgan's shape: batch norm in G and D, fakes reused, EMA; 80 steps."""
    tmp = tmp_path_factory.mktemp("ddp")
    cfg = make_cfg(reuse_fake=True, ema=0.9, epochs=10)
    seen = []
    result, out, other = train_two(tmp, cfg, "reference", "fp-ref",
                                   on_log=lambda m, s: seen.append(s))
    return tmp, cfg, result, out, other, seen


def test_two_ranks_train_one_replica_and_only_rank0_writes(dcgan_run):
    tmp, cfg, result, out, other, seen = dcgan_run
    # train_variant ends by comparing every tensor of G, D, the EMA and both optimisers
    # byte for byte with rank 0's (distributed.replica_mismatches), and fails otherwise
    assert result.status == "ok" and result.steps == 10 * (64 // 8)
    assert sorted(p.name for p in (out / "weights").iterdir()) == \
        ["generator.pt", "generator_ema.pt", "model.json"]
    info = json.loads((out / "weights" / "model.json").read_text())
    assert info["params"]["devices"] == 2 and info["steps"] == result.steps
    rows = log_rows(out)
    assert [int(r["step"]) for r in rows] == seen == list(range(1, result.steps + 1))
    assert all(math.isfinite(float(r[c])) for r in rows for c in ("loss_d", "loss_g"))
    assert not other.exists()  # rank 1: no weights, log, checkpoint or cache folder
    assert not checkpoint_path(tmp / "cache", "x-seed0", "fp-ref").exists()


def test_replica_check_sees_one_differing_tensor(tmp_path):
    """The check the runs above pass is not vacuous: one rank-dependent tensor is named."""
    out = tmp_path / "rank1.json"
    with distributed.launch(2, "cpu", _probe_replicas, str(out)):
        mine = _probe_replicas(None)
    assert mine == ["model.differs"]
    assert json.loads(out.read_text()) == ["model.differs"]


def _probe_replicas(path):
    """Every rank: equal tensors (NaN included) but one; rank 1 reports what it saw."""
    rank, _ = distributed.rank_and_world()
    state = {"model": {"same": torch.arange(6.0).view(2, 3), "nan": torch.tensor(math.nan),
                       "differs": torch.tensor([1.0, 2.0 + rank]), "step": torch.tensor(3)}}
    found = distributed.replica_mismatches(state, torch.device("cpu"))
    if path is not None:
        with open(path, "w") as handle:
            json.dump(found, handle)
    return found


def test_conditional_wgan_gp_trains_under_ddp(tmp_path):
    """Layer-norm critic, gradient penalty 10 (autograd.grad(create_graph=True), then one
    backward through DDP), n_critic 2: launched by train_variant itself, as the stage does."""
    cfg = make_cfg(loss="wasserstein", gradient_penalty=10.0, conditional=True, n_critic=2,
                   betas=[0.0, 0.9], epochs=3)
    assert cfg.normalization_d is None  # layer norm under a gradient penalty
    images, labels = tiny_data()
    out = tmp_path / "wgan_gp"
    result = train_variant("x", cfg, images, labels, 3, out / "weights", out / "log.tsv",
                           tmp_path / "cache", "fp", seed=0, progress=False)
    assert result.status == "ok" and result.steps == 3 * (64 // 8 // 2)
    seed_everything(0)
    initial = build_models(cfg, (1, 8, 8), 3).generator.state_dict()
    trained = weights(out)
    assert all(torch.isfinite(v).all() for v in trained.values() if v.is_floating_point())
    changed = [k for k, v in trained.items() if v.is_floating_point()
               and not torch.equal(v, initial[k])]
    assert len(changed) > len(trained) // 2
    rows = log_rows(out)
    for column in ("loss_d", "loss_g", "wasserstein", "grad_norm_d", "grad_norm_g"):
        assert all(math.isfinite(float(r[column])) for r in rows), column


def test_an_interrupted_ddp_run_resumes_bit_identically(dcgan_run):
    """Rank 0 checkpoints every rank's noise stream; the resumed pair ends where the
    uninterrupted one did."""
    tmp, cfg, reference, ref_out, _, _ = dcgan_run
    with pytest.raises(Interrupt):
        train_two(tmp, cfg, "resumed", on_log=_stop_at(60), checkpoint_seconds=0.0)
    ckpt = checkpoint_path(tmp / "cache", "x-seed0", "fp")
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 50 and len(state["rngs"]) == 2
    result, out, _ = train_two(tmp, cfg, "resumed", checkpoint_seconds=0.0)
    assert result.steps == reference.steps
    for name in ("generator.pt", "generator_ema.pt"):
        assert (out / "weights" / name).read_bytes() == (ref_out / "weights" / name).read_bytes()
    assert (out / "log.tsv").read_bytes() == (ref_out / "log.tsv").read_bytes()
    assert not ckpt.exists()


def test_both_ranks_stop_at_the_same_divergence(tmp_path):
    """A loss that overflows (historical averaging of weight 1e38) stops both ranks at the
    same step, with the last finite weights; the sync points agree on the ranks' mean."""
    cfg = make_cfg(arch="mlp", historical_averaging=1e38, lr_g=1.0, lr_d=1.0)
    result, out, other = train_two(tmp_path, cfg, "diverged")
    assert result.status == "diverged" and result.diverged_step == 2
    info = json.loads((out / "weights" / "model.json").read_text())
    assert info["status"] == "diverged" and info["weights_step"] == 0
    assert all(torch.isfinite(v).all() for v in weights(out).values())
    assert not other.exists()


def test_more_processes_than_gpus_is_a_device_error():
    visible = torch.cuda.device_count()
    asked = max(2, visible + 1)
    with pytest.raises(DeviceError, match=f"devices: {asked} asks for one GPU per process, "
                                          f"but torch sees {visible}"):
        distributed.check_devices(asked, torch.device("cuda"))
    with pytest.raises(DeviceError, match="no backend for Apple's MPS"):
        distributed.check_devices(2, torch.device("mps"))
    distributed.check_devices(4, torch.device("cpu"))  # gloo: any number of CPU processes


@pytest.mark.parametrize("spec, message", [
    ({"devices": 0}, "variants.x.devices = 0: must be an integer >= 1"),
    ({"devices": 3, "batch_size": 64}, "variants.x.batch_size = 64: devices = 3"),
    ({"devices": 8, "batch_size": 8}, "at least 2 per process"),
    ({"devices": 2, "semi_supervised": True}, "variants.x.devices = 2 with semi_supervised"),
    ({"devices": 2, "arch": "stylegan"}, "with style_mixing = 0.9: mixing calls G.map"),
    ({"devices": 2, "device": "mps"}, "with device = 'mps'"),
    ({"devices": 2, "task": "edges2image", "arch": "unet"}, "with task = 'edges2image'"),
])
def test_devices_combinations_ddp_cannot_train_are_refused(spec, message):
    with pytest.raises(ParamsError, match=message):
        validate_section(VariantParams, spec, "variants.x")


def test_every_rank_draws_the_same_permutation_and_the_shards_cover_it():
    """DistributedSampler semantics: the same permutation on every rank, disjoint slices."""
    perm = distributed.epoch_permutation(10, seed=3, epoch=1, device=torch.device("cpu"))
    assert torch.equal(perm, distributed.epoch_permutation(10, 3, 1, torch.device("cpu")))
    assert not torch.equal(perm, distributed.epoch_permutation(10, 3, 2, torch.device("cpu")))
    shards = [perm[rank::2] for rank in range(2)]
    assert sorted(torch.cat(shards).tolist()) == list(range(10))


def test_no_rank_of_one_seed_draws_another_seeds_noise():
    """Rank 0 keeps the single-process stream (the seed itself); the other ranks' seeds are
    hashed, so seeds 0-2 on 4 ranks give 12 different streams (seed + rank would give 6)."""
    assert [distributed.noise_seed(s, 0) for s in range(3)] == [0, 1, 2]
    seeds = {distributed.noise_seed(s, r) for s in range(3) for r in range(4)}
    assert len(seeds) == 12
    assert all(0 <= s < 2 ** 63 for s in seeds)
    torch.Generator().manual_seed(distributed.noise_seed(5, 3))  # a seed torch accepts
