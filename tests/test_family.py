"""The rest of the lectures' GAN family: presets, spectral norm, virtual batch norm, R1,
historical averaging, the semi-supervised GAN, progressive growing and StyleGAN in the
training loop (the networks' own tests: test_progan.py, test_stylegan.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from ganbench import losses
from ganbench.config import ParamsError, VariantParams, validate_section
from ganbench.errors import InputError
from ganbench.models import build_models
from ganbench.models.normalization import REFERENCE_BATCH, VirtualBatchNorm2d
from ganbench.presets import PRESETS
from ganbench.semi_supervised import baseline_params, labeled_subset
from ganbench.training import make_trainer
from test_models import _assert_grads, _batch, _case_id


def make_cfg(**spec) -> VariantParams:
    return validate_section(VariantParams, {"width": 8, "z_dim": 6, **spec}, "variants.x")


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_variant(name):
    cfg = validate_section(VariantParams, {"preset": name}, "variants.mine")
    assert cfg.preset == name
    for key, value in PRESETS[name].items():
        assert getattr(cfg, key) == value, key


def test_the_issue_presets_exist_and_a_key_overrides_its_preset():
    assert {"ssgan", "progan", "stylegan", "sngan", "gan", "dcgan", "cgan", "wgan", "wgan_gp",
            "vae"} <= set(PRESETS)
    cfg = validate_section(VariantParams, {"preset": "stylegan", "epochs": 3, "width": 16},
                           "variants.mine")
    assert (cfg.arch, cfg.epochs, cfg.width, cfg.r1_penalty) == ("stylegan", 3, 16, 1.0)


def test_an_unknown_preset_names_the_allowed_ones():
    with pytest.raises(ParamsError, match=r"variants.mine.preset.*stylegan"):
        validate_section(VariantParams, {"preset": "stylegun"}, "variants.mine")


def test_an_override_is_validated_against_the_preset():
    with pytest.raises(ParamsError, match="normalization_d"):  # progan has no batch norm
        validate_section(VariantParams, {"preset": "progan", "normalization_d": "batch"},
                         "variants.mine")


@pytest.mark.parametrize("spec, message", [
    ({"semi_supervised": True, "conditional": True}, "unconditional"),
    ({"semi_supervised": True, "arch": "mlp"}, "arch: dcgan"),
    ({"semi_supervised": True, "loss": "hinge"}, "cross-entropy"),
    ({"normalization_g": "virtual_batch", "arch": "mlp"}, "dcgan generator"),
    ({"normalization_d": "batch", "r1_penalty": 1.0}, "per sample"),
    ({"arch": "progan", "stage_epochs": 1.0, "fade_epochs": 2.0}, "at most stage_epochs"),
    ({"arch": "vae", "r1_penalty": 1.0}, "need a discriminator"),
])
def test_combinations_that_cannot_work_are_refused(spec, message):
    with pytest.raises(ParamsError, match=message):
        make_cfg(**spec)


# --------------------------------------------------------------------------- shapes, gradients


LOSSES = [{"loss": "nonsaturating"}, {"loss": "hinge"},
          {"loss": "wasserstein", "gradient_penalty": 10.0}]
FAMILY_CASES = [dict(arch=arch, conditional=cond, **spec)
                for arch, cond, spec in itertools.product(("progan", "stylegan"), (False, True),
                                                          LOSSES)]
FAMILY_CASES += [dict(arch="dcgan", normalization_d="spectral", conditional=cond, **spec)
                 for cond, spec in itertools.product((False, True), LOSSES)]
FAMILY_CASES += [
    dict(arch="progan", normalization_d="spectral", r1_penalty=1.0),
    dict(arch="stylegan", r1_penalty=1.0, conditional=True, style_mixing=1.0),
    dict(arch="dcgan", normalization_g="virtual_batch", conditional=True),
    dict(arch="dcgan", normalization_g="none", historical_averaging=0.5),
    dict(arch="dcgan", r1_penalty=10.0, loss="least_squares", normalization_d="none"),
    dict(arch="dcgan", semi_supervised=True, feature_matching=True, labeled_per_class=2),
    dict(arch="dcgan", semi_supervised=True, normalization_d="spectral", labeled_per_class=2),
]


@pytest.mark.parametrize("spec", FAMILY_CASES, ids=_case_id)
def test_family_shapes_and_gradient_flow(spec):
    shape = (1, 8, 8) if spec.get("conditional") else (3, 8, 8)
    cfg = make_cfg(**spec)
    torch.manual_seed(0)
    models = build_models(cfg, shape, num_classes=3)
    trainer = make_trainer(cfg, models, torch.device("cpu"), torch.Generator().manual_seed(0), 3)
    real, labels = _batch(shape)
    y = labels if cfg.conditional else None
    if cfg.semi_supervised:
        trainer.labeled = (real, labels)
    if cfg.arch == "progan":  # mid fade-in: both resolutions' layers are in use
        models.set_stage(1, 0.5)
    z = torch.randn(6, cfg.z_dim)
    images = models.generator(z, y)
    assert images.shape == (6, *shape) and images.min() >= -1 and images.max() <= 1
    logits, features = models.discriminator(real, y, return_features=True)
    assert logits.shape == (6,) and features.shape[0] == 6
    trainer.discriminator_step(real, y)
    skip = {n for n, _ in models.discriminator.named_parameters() if n.endswith("linear.bias")
            or n.endswith("head.bias") or n.endswith("bias_original")} \
        if cfg.objective in ("wasserstein", "hinge") else set()
    if cfg.arch == "stylegan":  # its D is the progan D fully grown: lower from_rgb unused
        last = models.discriminator.num_levels - 1
        skip |= {n for n, _ in models.discriminator.named_parameters()
                 if n.startswith("from_rgb.") and not n.startswith(f"from_rgb.{last}.")}
    _assert_grads(models.discriminator, skip)
    trainer.generator_step(real, y)
    _assert_grads(models.generator)


# --------------------------------------------------------------------------- hand-computed


def test_k_plus_one_loss_matches_a_hand_computation():
    """K = 2. Labelled logits (0, log 3) with class 1: -log(3/4). Unlabelled real with
    log Z = log 3: -log(3/4); fake with log Z = 0: -log(1/2)."""
    labeled = torch.tensor([[0.0, math.log(3.0)]])
    loss = losses.semi_supervised_loss_dis(labeled, torch.tensor([1]),
                                           torch.tensor([math.log(3.0)]), torch.tensor([0.0]))
    expected = -math.log(3 / 4) - math.log(3 / 4) - math.log(1 / 2)
    assert loss.item() == pytest.approx(expected)
    # D(x) = Z / (Z + 1): the real/fake logit of the K+1-class D is the log-sum-exp
    cfg = make_cfg(semi_supervised=True, normalization_d="none")
    d = build_models(cfg, (1, 8, 8), 3).discriminator
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(d(x), torch.logsumexp(d.classify(x), dim=1), atol=1e-6)


def test_r1_matches_a_hand_computation():
    """D(x) = <w, x>: grad_x D = w, so R1 = gamma / 2 * ||w||^2 for every sample."""
    w = torch.tensor([1.0, 2.0, -2.0])
    critic = lambda x: (x.flatten(1) * w).sum(dim=1)  # noqa: E731
    real = torch.randn(5, 3)
    assert losses.r1_penalty(critic, real, gamma=4.0).item() == pytest.approx(2.0 * 9.0)
    # D(x) = ||x||^2: grad = 2x, R1 = gamma/2 * mean 4||x||^2
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    value = losses.r1_penalty(lambda x: (x ** 2).sum(dim=1), real, gamma=1.0)
    assert value.item() == pytest.approx(0.5 * (4 * 1 + 4 * 4) / 2)


def test_historical_averaging_matches_a_hand_computation():
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    history = losses.HistoricalAverage(net)
    for value in (2.0, 6.0):  # theta: 1 (initial), 2, 6 -> mean 3
        with torch.no_grad():
            net.weight.fill_(value)
        history.update(net)
    assert history.averages()[0].item() == pytest.approx(3.0)
    penalty = losses.historical_average_penalty(net.parameters(), history.averages(), 0.5)
    assert penalty.item() == pytest.approx(0.5 * (6.0 - 3.0) ** 2)


def test_spectral_norm_makes_the_largest_singular_value_one():
    cfg = make_cfg(normalization_d="spectral", width=16)
    d = build_models(cfg, (1, 16, 16), 3).discriminator
    x = torch.rand(8, 1, 16, 16)
    for _ in range(20):  # power iterations happen in training-mode forwards
        d(x)
    layers = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert len(layers) >= 3
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_virtual_batch_norm_makes_each_output_independent_of_its_batch():
    cfg = make_cfg(normalization_g="virtual_batch")
    torch.manual_seed(0)
    g = build_models(cfg, (1, 8, 8), 3).generator.train()
    z = torch.randn(5, cfg.z_dim)
    with torch.no_grad():
        together = g(z)
        alone = g(z[:1])
    assert torch.allclose(together[:1], alone, atol=1e-6)
    # the reference batch is part of the weights: same in a reloaded copy
    assert g.reference_z.shape == (REFERENCE_BATCH, cfg.z_dim)
    assert "reference_z" in g.state_dict()


def test_virtual_batch_norm_uses_the_reference_and_the_example():
    vbn = VirtualBatchNorm2d(1, reference_size=2)
    ref = torch.tensor([0.0, 2.0]).view(2, 1, 1, 1)
    x = torch.cat([ref, torch.tensor([5.0]).view(1, 1, 1, 1)])
    out = vbn(x)
    # example 5 with reference {0, 2}: mean (0+2+5)/3, mean square (0+4+25)/3
    mean, sq = 7 / 3, 29 / 3
    assert out[2].item() == pytest.approx((5 - mean) / math.sqrt(sq - mean ** 2 + 1e-5),
                                          rel=1e-5)
    assert out[0].item() == pytest.approx(-1 / math.sqrt(1 + 1e-5), rel=1e-5)


def test_labeled_subset_is_per_class_and_seeded():
    labels = np.arange(100) % 10
    a = labeled_subset(labels, 10, 3, seed=0)
    assert len(a) == 30 and np.bincount(labels[a]).tolist() == [3] * 10
    assert np.array_equal(a, labeled_subset(labels, 10, 3, seed=0))
    assert not np.array_equal(a, labeled_subset(labels, 10, 3, seed=1))
    with pytest.raises(InputError, match="class 0 has only 10"):
        labeled_subset(labels, 10, 11, seed=0)


def test_the_supervised_baseline_gets_the_judges_step_budget():
    from ganbench.config import JudgeParams
    judge = JudgeParams(epochs=5, batch_size=128)
    budget = baseline_params(judge, 100, 4000, seed=3)
    assert budget.epochs == 5 * 32 and budget.seed == 3  # 160 steps of one batch of 100


# --------------------------------------------------------------------------- toy runs


def halves(n: int, seed: int = 0):
    """8x8 images with the left or the right half lit (class 0 / 1), plus a little noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = np.zeros((n, 1, 8, 8))
    images[labels == 0, :, :, :4] = 1.0
    images[labels == 1, :, :, 4:] = 1.0
    images = np.clip(images + rng.normal(0, 0.05, images.shape), 0, 1)
    return (images * 255).round().astype(np.uint8), labels.astype(np.int64)


def distance_to_data(weights_dir) -> float:
    """Mean over 64 samples of the squared distance (per pixel, in [-1, 1]) to the nearer of
    the two prototypes."""
    from ganbench.sampling import generate, load_generator

    generator, info = load_generator(weights_dir)
    images = generate(generator, info, 64, seed=5)[0].astype(float) / 127.5 - 1
    protos = -np.ones((2, 1, 8, 8))
    protos[0, :, :, :4] = protos[1, :, :, 4:] = 1.0
    d = ((images[:, None] - protos[None]) ** 2).mean(axis=(2, 3, 4))
    return float(d.min(axis=1).mean())


def train_toy(tmp_path, name, **spec):
    from ganbench.training import train_variant

    images, labels = halves(256)
    base = {"width": 8, "z_dim": 8, "batch_size": 32, "epochs": 15, "lr_g": 0.002,
            "lr_d": 0.002, "betas": [0.0, 0.99]}
    cfg = make_cfg(**{**base, **spec})
    out = tmp_path / name
    train_variant(name, cfg, images, labels, 2, out / "weights", out / "log.tsv",
                  tmp_path / "cache", name, progress=False)
    return out / "weights"


@pytest.mark.slow
@pytest.mark.parametrize("spec", [
    dict(arch="progan", loss="nonsaturating", r1_penalty=1.0, stage_epochs=13.0,
         fade_epochs=6.0),
    dict(arch="stylegan", r1_penalty=1.0, style_mixing=0.9),
], ids=["progan", "stylegan"])
def test_progan_and_stylegan_learn_the_toy_data(tmp_path, spec):
    """After 320 steps (8 s) the samples are far nearer the two image modes than at the
    start (measured: 1.26 -> 0.55 for progan, 1.41 -> 0.61 for stylegan)."""
    untrained = train_toy(tmp_path, "init", **{**spec, "epochs": 1, "lr_g": 1e-9,
                                               "lr_d": 1e-9})
    trained = train_toy(tmp_path, "trained", **{**spec, "epochs": 40})
    before, after = distance_to_data(untrained), distance_to_data(trained)
    assert after < 0.6 * before, (before, after)


def test_the_semi_supervised_discriminator_classifies_above_chance(tmp_path):
    """Five labels per class: D's K-class accuracy on held-out toy images beats chance."""
    from ganbench.semi_supervised import discriminator_accuracy

    weights = train_toy(tmp_path, "ssgan", semi_supervised=True, labeled_per_class=5,
                        feature_matching=True, normalization_d="none", lr_g=0.0003,
                        lr_d=0.0003, betas=[0.5, 0.999], epochs=5)
    cfg = make_cfg(semi_supervised=True, normalization_d="none", z_dim=8)
    d = build_models(cfg, (1, 8, 8), 2).discriminator
    d.load_state_dict(torch.load(weights / "discriminator.pt", weights_only=True))
    test_images, test_labels = halves(200, seed=1)
    assert discriminator_accuracy(d, test_images, test_labels) > 0.9


def test_style_mixing_figure_has_sources_on_top_and_left(tmp_path):
    from PIL import Image

    from ganbench.sampling import style_mixing
    cfg = make_cfg(arch="stylegan", conditional=True)
    torch.manual_seed(0)
    g = build_models(cfg, (1, 8, 8), 3).generator.eval()
    info = {"z_dim": cfg.z_dim, "conditional": True, "num_classes": 3}
    images = style_mixing(g, info, 3, seed=2, path=tmp_path / "m.png")
    assert images.shape == (16, 1, 8, 8) and images.dtype == np.uint8
    assert (images[0] == 0).all()                       # the blank corner
    np.testing.assert_array_equal(images, style_mixing(g, info, 3, seed=2))
    assert Image.open(tmp_path / "m.png").size[0] == Image.open(tmp_path / "m.png").size[1]
    assert not np.array_equal(images[5], images[4])  # tile (0, 0) is not row source 0 alone


def test_lazy_r1_applies_every_kth_step_weighted_by_k(monkeypatch):
    """StyleGAN2's lazy regularisation: R1 at steps 0, k, 2k, ... with weight k * gamma."""
    calls = []
    real_r1 = losses.r1_penalty

    def spy(*args, gamma):
        calls.append(gamma)
        return real_r1(*args, gamma=gamma)

    monkeypatch.setattr(losses, "r1_penalty", spy)
    cfg = make_cfg(r1_penalty=2.0, r1_interval=3, n_critic=2, normalization_d="none")
    models = build_models(cfg, (1, 8, 8), 3)
    trainer = make_trainer(cfg, models, torch.device("cpu"), torch.Generator().manual_seed(0), 3)
    real, _ = _batch((1, 8, 8))
    applied = []
    for step in range(7):
        trainer.set_progress(step, 10)
        before = len(calls)
        trainer.step([(real, None), (real, None)])
        applied.append(len(calls) - before)
    assert applied == [1, 0, 0, 1, 0, 0, 1]  # once per applied step, not per critic step
    assert calls == [2.0] * 3


def test_stylegan_training_with_mixing_moves_w_avg():
    """The trainer builds mixed styles itself; the truncation centre must still follow w."""
    cfg = make_cfg(arch="stylegan", style_mixing=1.0)
    models = build_models(cfg, (1, 8, 8), 3)
    trainer = make_trainer(cfg, models, torch.device("cpu"), torch.Generator().manual_seed(0), 3)
    before = models.generator.w_avg.clone()
    trainer.step([(_batch((1, 8, 8))[0], None)])
    assert not torch.equal(before, models.generator.w_avg)
