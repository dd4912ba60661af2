"""The training loop: learning on a toy mixture, determinism, resume, divergence, outputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from ganbench import losses
from ganbench.checkpoint import checkpoint_path
from ganbench.config import VariantParams, validate_section
from ganbench.models import GanModels
from ganbench.training import LOG_COLUMNS, GanTrainer, train_variant
from report_fixtures import LOG_HEADER




def make_cfg(**spec) -> VariantParams:
    base = {"arch": "dcgan", "width": 8, "z_dim": 6, "batch_size": 8, "epochs": 10}
    return validate_section(VariantParams, {**base, **spec}, "variants.x")


def tiny_data(n=64, shape=(1, 8, 8), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    labels = rng.integers(0, classes, n).astype(np.int64)
    return images, labels


def run(tmp_path, cfg, name="run", fingerprint="fp", data=None, **kwargs):
    images, labels = data or tiny_data()
    out = tmp_path / name
    result = train_variant("x", cfg, images, labels, 3, out / "weights", out / "log.tsv",
                           tmp_path / "cache", fingerprint, progress=False, **kwargs)
    return result, out


def weights(out, name="generator.pt"):
    return torch.load(out / "weights" / name, weights_only=True)


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def read_log(path):
    lines = path.read_text().splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


# --------------------------------------------------------------------------- toy mixture

R, S = 1.0, 0.05
MODES = torch.tensor([[R * math.cos(a), R * math.sin(a)]
                      for a in np.arange(8) * 2 * math.pi / 8], dtype=torch.float32)


class ToyG(nn.Module):
    def __init__(self, z_dim=2, width=128):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, width), nn.ReLU(), nn.Linear(width, width),
                                 nn.ReLU(), nn.Linear(width, 2))

    def forward(self, z, labels=None):
        return self.net(z)


class ToyD(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, width), nn.LeakyReLU(0.2),
                                  nn.Linear(width, width), nn.LeakyReLU(0.2))
        self.head = nn.Linear(width, 1)

    def forward(self, x, labels=None, return_features=False):
        features = self.body(x)
        out = self.head(features).squeeze(1)
        return (out, features) if return_features else out


def mode_score(points):
    """(modes holding >= 1/4 of their fair share of high-quality samples, HQ fraction).

    High quality: within 3 standard deviations of the nearest mode."""
    dist, nearest = torch.cdist(points, MODES).min(dim=1)
    hq = dist < 3 * S
    counts = torch.bincount(nearest[hq], minlength=8)
    return int((counts >= 0.25 * len(points) / 8).sum()), float(hq.float().mean())


def test_toy_mixture_of_gaussians_is_learned():
    """8 Gaussians on a ring, the project's step code and LSGAN loss, a few seconds of CPU."""
    cfg = validate_section(VariantParams, {"arch": "mlp", "loss": "least_squares", "z_dim": 2,
                                           "lr_g": 1e-3, "lr_d": 1e-3}, "variants.mog")
    torch.manual_seed(0)
    rng = torch.Generator().manual_seed(0)
    models = GanModels(ToyG(), ToyD())
    trainer = GanTrainer(cfg, models, torch.device("cpu"), rng, 0)
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        untrained = mode_score(models.generator(z))
    for _ in range(700):
        real = MODES[torch.randint(8, (256,), generator=rng)] + S * torch.randn(256, 2,
                                                                                generator=rng)
        trainer.step([(real, None)])
    with torch.no_grad():
        modes, quality = mode_score(models.generator(z))
    assert untrained[0] <= 2 and untrained[1] < 0.1
    assert modes >= 6, (modes, quality)
    assert quality >= 0.4, (modes, quality)


# --------------------------------------------------------------------------- outputs


def test_outputs_log_and_model_json(tmp_path):
    cfg = make_cfg(loss="wasserstein", gradient_penalty=10.0, conditional=True, n_critic=2,
                   ema=0.9)
    seen = []
    result, out = run(tmp_path, cfg, on_log=lambda m, s: seen.append((s, m)))
    assert result.status == "ok" and result.diverged_step is None
    assert result.steps == 10 * ((64 // 8) // 2) and result.epochs == 10
    assert result.device == "cpu"
    info = json.loads((out / "weights" / "model.json").read_text())
    assert {"variant", "status", "diverged_step", "params", "arch", "loss", "conditional",
            "z_dim", "num_classes", "image_shape", "steps", "epochs", "device", "seed", "ema",
            "fingerprint"} <= set(info)
    assert "seconds" not in info  # a DVC output holds no wall-clock time (same bytes per run)
    assert info["params"]["loss"] == "wasserstein" and info["image_shape"] == [1, 8, 8]
    assert info["ema"] is True and (out / "weights" / "generator_ema.pt").is_file()
    assert info["steps"] == result.steps and info["num_classes"] == 3
    header, rows = read_log(out / "log.tsv")
    assert tuple(header) == LOG_HEADER == LOG_COLUMNS
    assert len(rows) == result.steps  # small runs log every step
    assert all(row[header.index("wasserstein")] != "" for row in rows)
    assert all(row[header.index("recon")] == "" for row in rows)
    assert [s for s, _ in seen] == [int(row[0]) for row in rows]
    step, metrics = seen[-1]
    for key, value in metrics.items():
        assert float(rows[-1][header.index(key)]) == pytest.approx(value, rel=1e-5)
    assert not checkpoint_path(tmp_path / "cache", "x-seed0", "fp").exists()


def test_vae_log_columns_and_row_limit(tmp_path):
    cfg = make_cfg(arch="vae", epochs=5)
    result, out = run(tmp_path, cfg, max_log_rows=7)
    header, rows = read_log(out / "log.tsv")
    assert result.steps == 40 and len(rows) <= 7 and int(rows[-1][0]) == 40
    filled = {c for c in header if rows[0][header.index(c)] != ""}
    assert filled == {"step", "epoch", "loss_g", "recon", "kl"}
    assert not (out / "weights" / "generator_ema.pt").exists()


def test_same_params_give_identical_weights(tmp_path):
    cfg = make_cfg(conditional=True, label_smoothing=0.1, epochs=3, ema=0.5)
    _, a = run(tmp_path, cfg, "a", "fa")
    _, b = run(tmp_path, cfg, "b", "fb")
    assert_same_weights(weights(a), weights(b))
    assert_same_weights(weights(a, "generator_ema.pt"), weights(b, "generator_ema.pt"))
    assert (a / "log.tsv").read_bytes() == (b / "log.tsv").read_bytes()
    _, c = run(tmp_path, cfg, "c", "fc", seed=1)  # another training seed
    assert not torch.equal(weights(a)["decoder.project.weight"],
                           weights(c)["decoder.project.weight"])


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("spec", [
    dict(ema=0.9, conditional=True),
    dict(loss="wasserstein", gradient_penalty=1.0, n_critic=2, epochs=20),
    # progressive growing: the checkpoint (step 50) falls mid fade-in of the 8x8 level,
    # which starts at epoch 6 (step 48): resuming crosses the resolution change
    dict(arch="progan", loss="wasserstein", gradient_penalty=1.0, stage_epochs=6.0,
         fade_epochs=2.0, ema=0.9),
    dict(arch="stylegan", r1_penalty=1.0, conditional=True),  # noise and mixing from the rng
    dict(semi_supervised=True, labeled_per_class=3, feature_matching=True,
         normalization_d="none", historical_averaging=0.01, normalization_g="virtual_batch"),
])
def test_resume_after_interruption_is_bit_identical(tmp_path, spec):
    cfg = make_cfg(**spec)
    reference, ref_out = run(tmp_path, cfg, "reference", "fp-ref")

    def stop_at(step_limit):
        def on_log(metrics, step):
            if step >= step_limit:
                raise Interrupt(step)
        return on_log

    # checkpoint at every sync point (every 25 steps); die in the middle of the third block
    with pytest.raises(Interrupt):
        run(tmp_path, cfg, "resumed", "fp", on_log=stop_at(60), checkpoint_seconds=0.0)
    ckpt = checkpoint_path(tmp_path / "cache", "x-seed0", "fp")
    assert ckpt.is_file()
    assert torch.load(ckpt, weights_only=True)["step"] == 50
    replayed = []
    result, out = run(tmp_path, cfg, "resumed", "fp", checkpoint_seconds=0.0,
                      on_log=lambda m, s: replayed.append(s))
    assert result.status == "ok" and result.steps == reference.steps
    assert replayed == list(range(1, reference.steps + 1))  # restored rows are replayed
    assert_same_weights(weights(ref_out), weights(out))
    if cfg.ema:
        assert_same_weights(weights(ref_out, "generator_ema.pt"), weights(out, "generator_ema.pt"))
    assert (ref_out / "log.tsv").read_bytes() == (out / "log.tsv").read_bytes()
    assert not ckpt.exists()


def test_changed_params_do_not_resume_a_stale_checkpoint(tmp_path):
    cfg = make_cfg()
    with pytest.raises(Interrupt):
        run(tmp_path, cfg, "a", "fp-one", checkpoint_seconds=0.0,
            on_log=lambda m, s: (_ for _ in ()).throw(Interrupt()) if s > 30 else None)
    assert checkpoint_path(tmp_path / "cache", "x-seed0", "fp-one").is_file()
    _, out = run(tmp_path, cfg, "b", "fp-two")
    _, ref = run(tmp_path, cfg, "c", "fp-three")
    assert_same_weights(weights(out), weights(ref))


def test_divergence_stops_with_finite_weights(tmp_path, monkeypatch):
    real_loss = losses.generator_loss
    calls = {"n": 0}

    def exploding(objective, fake):
        calls["n"] += 1
        loss = real_loss(objective, fake)
        return loss * float("nan") if calls["n"] >= 37 else loss

    monkeypatch.setattr(losses, "generator_loss", exploding)
    cfg = make_cfg(ema=0.9)
    result, out = run(tmp_path, cfg)
    assert result.status == "diverged" and result.diverged_step == 37
    info = json.loads((out / "weights" / "model.json").read_text())
    assert info["status"] == "diverged" and info["diverged_step"] == 37
    assert info["weights_step"] == 25  # the last sync point with finite losses
    for name in ("generator.pt", "generator_ema.pt"):
        for value in weights(out, name).values():
            assert torch.isfinite(value.float()).all()
    header, rows = read_log(out / "log.tsv")
    assert int(rows[-1][0]) == 37 and rows[-1][header.index("loss_g")] == "nan"
    assert not checkpoint_path(tmp_path / "cache", "x-seed0", "fp").exists()


def test_non_finite_weights_count_as_divergence(tmp_path, monkeypatch):
    """A critic update that leaves inf in the weights (here injected after step 50's clip)."""
    real_clip = losses.clip_weights_
    calls = {"n": 0}

    def clip_then_break(module, clip):
        calls["n"] += 1
        real_clip(module, clip)
        if calls["n"] == 50:
            with torch.no_grad():
                next(module.parameters()).fill_(float("inf"))

    monkeypatch.setattr(losses, "clip_weights_", clip_then_break)
    cfg = make_cfg(loss="wasserstein", weight_clip=0.01, optimizer="rmsprop")
    result, out = run(tmp_path, cfg)
    assert result.status == "diverged" and result.diverged_step == 50
    for value in weights(out).values():
        assert torch.isfinite(value.float()).all()


@pytest.mark.parametrize("content", [b"not a checkpoint", b""])
def test_unusable_checkpoint_is_named_and_training_starts_over(tmp_path, capsys, content):
    """A corrupt checkpoint is not resumed, and not silently: one line says which and why."""
    cfg = make_cfg()
    _, ref = run(tmp_path, cfg, "ref", "fp-ref")
    ckpt = checkpoint_path(tmp_path / "cache", "x-seed0", "fp")
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(content)
    capsys.readouterr()
    result, out = run(tmp_path, cfg, "again", "fp")
    err = capsys.readouterr().err
    assert f"ignoring checkpoint {ckpt}: it cannot be read" in err and "from step 0" in err
    assert_same_weights(weights(out), weights(ref))
    assert not ckpt.exists()


def test_checkpoints_that_cannot_resume_are_pruned(tmp_path):
    """Another fingerprint of the same variant is superseded; one whose owner process lives
    is kept (a parallel queued experiment); stale ones of other variants go after
    STALE_DAYS."""
    import os
    import time

    from ganbench.checkpoint import OWNER_FILE, STALE_DAYS, prune_checkpoints

    cache = tmp_path / "cache"
    folders = {}
    for variant, fp in (("x", "old"), ("x", "busy"), ("y", "recent"), ("y", "ancient")):
        folder = cache / variant / fp
        folder.mkdir(parents=True)
        (folder / "checkpoint.pt").write_bytes(b"x")
        folders[fp] = folder
    (folders["busy"] / OWNER_FILE).write_text(f"{os.getpid()}\n")
    old = time.time() - (STALE_DAYS + 1) * 86400
    os.utime(folders["ancient"] / "checkpoint.pt", (old, old))
    removed = prune_checkpoints(cache, "x", keep="current")
    assert sorted(p.name for p in removed) == ["ancient", "old"]
    assert folders["busy"].is_dir() and folders["recent"].is_dir()


def test_reuse_fake_runs_the_generator_once_per_step(tmp_path, monkeypatch):
    """reuse_fake: the generator step reuses the D step's fakes (one G forward per step, as
    pytorch/examples' DCGAN); without it G runs twice. Either way D's weights get no
    gradient from the G step and stay trainable."""
    from ganbench.models import build_models

    for reuse, per_step in ((True, 1), (False, 2)):
        cfg = make_cfg(reuse_fake=reuse)
        models = build_models(cfg, (1, 8, 8), 3)
        trainer = GanTrainer(cfg, models, torch.device("cpu"), torch.Generator().manual_seed(0),
                             3)
        calls = {"n": 0}
        models.generator.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
        real = torch.rand(8, 1, 8, 8) * 2 - 1
        for _ in range(3):
            trainer.step([(real, None)])
        assert calls["n"] == 3 * per_step, reuse
        assert all(p.requires_grad for p in models.discriminator.parameters())
        trainer.discriminator_step(real, None)
        trainer.opt_d.zero_grad(set_to_none=True)
        trainer.generator_step(real, None)
        assert all(p.grad is None for p in models.discriminator.parameters())
        assert all(p.grad is not None for p in models.generator.parameters())


def test_channels_last_changes_rounding_only(tmp_path):
    """The memory format is a speed choice: both formats learn the same function up to float
    rounding, and each is bit-reproducible."""
    a = weights(run(tmp_path, make_cfg(channels_last=True), "a", "fa")[1])
    b = weights(run(tmp_path, make_cfg(channels_last=False), "b", "fb")[1])
    again = weights(run(tmp_path, make_cfg(channels_last=True), "c", "fc")[1])
    assert_same_weights(a, again)
    for key in a:
        torch.testing.assert_close(a[key].float(), b[key].float(), rtol=1e-3, atol=1e-4)


def test_on_log_points_spreads_the_tracker_rows_and_keeps_the_last(tmp_path):
    seen = []
    result, out = run(tmp_path, make_cfg(epochs=10), on_log=lambda m, s: seen.append(s),
                      on_log_points=7)
    header, rows = read_log(out / "log.tsv")
    assert len(rows) == result.steps == 80  # the TSV keeps every row
    steps = [int(r[0]) for r in rows]
    assert seen == steps[::12] + [steps[-1]]  # ceil(80 / 7) = 12: every 12th, and the last


def test_ema_ramps_up_so_a_short_run_forgets_the_initialisation():
    """min(decay, (1 + t) / (10 + t)) (TensorFlow's ExponentialMovingAverage num_updates)."""
    from ganbench.training import ema_decay

    assert ema_decay(0.999, 0) == pytest.approx(0.1)
    assert ema_decay(0.999, 90) == pytest.approx(0.91)
    assert ema_decay(0.999, 1_000_000) == 0.999
    # weight left on the initial weights after 1,250 steps: the product of the decays
    left = math.prod(ema_decay(0.999, t) for t in range(1250))
    assert left < 1e-6 < 0.999 ** 1250
