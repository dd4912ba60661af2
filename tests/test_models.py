"""Networks and losses: shapes, gradient flow for every allowed combination, WGAN-GP, clipping."""

from __future__ import annotations

import itertools

import pytest
import torch

from ganbench import losses
from ganbench.config import GAN_LOSSES, VariantParams, validate_section
from ganbench.models import build_models
from ganbench.models.dcgan import plan
from ganbench.training import GanTrainer, VaeTrainer, make_trainer




def make_cfg(**spec) -> VariantParams:
    return validate_section(VariantParams, {"width": 8, "z_dim": 6, **spec}, "variants.x")


def loss_specs():
    """Every GAN objective the schema allows, wasserstein with each Lipschitz constraint."""
    for loss in GAN_LOSSES:
        if loss == "wasserstein":
            yield {"loss": loss, "weight_clip": 0.01}
            yield {"loss": loss, "gradient_penalty": 10.0}
        else:
            yield {"loss": loss}


GAN_CASES = [dict(arch=arch, conditional=cond, **spec)
             for arch, cond, spec in itertools.product(("mlp", "dcgan"), (False, True),
                                                       list(loss_specs()))]
TRICK_CASES = [
    dict(arch="dcgan", label_smoothing=0.1, conditional=True),
    dict(arch="dcgan", feature_matching=True),
    dict(arch="mlp", feature_matching=True, minibatch_discrimination=True, conditional=True),
    dict(arch="dcgan", minibatch_discrimination=True, ema=0.9),
    dict(arch="dcgan", loss="hinge", minibatch_discrimination=True, n_critic=2),
]
SHAPES = [(1, 8, 8), (3, 16, 16), (1, 16, 16), (3, 8, 8)]


def _case_id(spec):
    return "-".join(f"{k}={v}" for k, v in spec.items())


def _batch(shape, n=6, num_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand((n, *shape), generator=g) * 2 - 1
    labels = torch.randint(num_classes, (n,), generator=g)
    return real, labels


def _assert_grads(module, skip=()):
    for name, p in module.named_parameters():
        if name in skip:
            continue
        assert p.grad is not None, f"{name}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: zero gradient"


@pytest.mark.parametrize("spec", GAN_CASES + TRICK_CASES, ids=_case_id)
def test_gan_shapes_and_gradient_flow(spec):
    i = (GAN_CASES + TRICK_CASES).index(spec)
    shape = SHAPES[i % len(SHAPES)]
    cfg = make_cfg(**spec)
    torch.manual_seed(0)
    models = build_models(cfg, shape, num_classes=3)
    trainer = make_trainer(cfg, models, torch.device("cpu"), torch.Generator().manual_seed(0), 3)
    assert isinstance(trainer, GanTrainer)
    real, labels = _batch(shape)
    y = labels if cfg.conditional else None

    z = torch.randn(6, cfg.z_dim)
    images = models.generator(z, y)
    assert images.shape == (6, *shape)
    assert images.min() >= -1 and images.max() <= 1
    logits, features = models.discriminator(real, y, return_features=True)
    assert logits.shape == (6,) and features.shape[0] == 6

    # The real step code leaves the gradients of its last update in .grad.
    trainer.discriminator_step(real, y)
    # A shift of D's output changes neither the wasserstein loss (E D(x) - E D(G(z))) nor the
    # gradient penalty, nor the hinge loss while every margin is active: the output bias
    # then gets an exact zero gradient, which is correct.
    skip = ("head.linear.bias",) if cfg.objective in ("wasserstein", "hinge") else ()
    _assert_grads(models.discriminator, skip)
    trainer.generator_step(real, y)
    _assert_grads(models.generator)
    if cfg.conditional:
        with pytest.raises(ValueError, match="conditional"):
            models.generator(z, None)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 16)])
def test_vae_shapes_and_gradient_flow(conditional, shape):
    cfg = make_cfg(arch="vae", conditional=conditional)
    torch.manual_seed(0)
    models = build_models(cfg, shape, num_classes=3)
    assert models.discriminator is None and models.vae is not None
    trainer = make_trainer(cfg, models, torch.device("cpu"), torch.Generator().manual_seed(0), 3)
    assert isinstance(trainer, VaeTrainer)
    real, labels = _batch(shape)
    y = labels if conditional else None
    assert models.generator(torch.randn(6, cfg.z_dim), y).shape == (6, *shape)
    values, loss = trainer.step([(real, y)])
    assert values.shape == (3,) and torch.isfinite(values).all()
    assert torch.isclose(values[0], values[1] + values[2])  # -ELBO = recon + KL
    _assert_grads(models.vae)


@pytest.mark.parametrize("side", [8, 9, 16, 28, 29, 32, 64])
def test_dcgan_sizes(side):
    k, (h0, w0) = plan(side, side)
    assert 4 <= h0 <= 7 and h0 * 2 ** k >= side
    cfg = make_cfg(arch="dcgan")
    models = build_models(cfg, (1, side, side), 10)
    out = models.generator(torch.randn(2, cfg.z_dim))
    assert out.shape == (2, 1, side, side)
    assert models.discriminator(out).shape == (2,)


def test_gradient_penalty_linear_critic_is_analytic():
    """A linear critic w.x has gradient w everywhere: GP = lambda (||w|| - 1)^2."""
    w = torch.tensor([2.0, 0.0, 0.0, 1.0, 2.0, 0.0])  # ||w|| = 3
    real, fake = torch.randn(5, 1, 2, 3), torch.randn(5, 1, 2, 3)
    gp = losses.gradient_penalty(lambda x: x.flatten(1) @ w, real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2)


def test_gradient_penalty_quadratic_critic_matches_hand_computation():
    """Critic 0.5 ||x||^2 has gradient x: the penalty reads the interpolates' norms."""
    real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    gp = losses.gradient_penalty(lambda x: 0.5 * (x.flatten(1) ** 2).sum(1), real, fake,
                                 weight=2.0, generator=torch.Generator().manual_seed(7))
    eps = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(7))
    x_hat = eps * real + (1 - eps) * fake
    expected = 2.0 * ((x_hat.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-6)
    # and it is differentiable with respect to the critic's parameters
    a = torch.tensor(1.5, requires_grad=True)
    losses.gradient_penalty(lambda x: a * x.flatten(1).sum(1), real, fake).backward()
    assert a.grad is not None and a.grad != 0


def test_weight_clipping_bounds_the_critic():
    cfg = make_cfg(arch="dcgan", loss="wasserstein", weight_clip=0.01, optimizer="rmsprop",
                   lr_d=0.05, lr_g=0.05, n_critic=2)
    torch.manual_seed(0)
    models = build_models(cfg, (1, 8, 8), 3)
    trainer = make_trainer(cfg, models, torch.device("cpu"), torch.Generator().manual_seed(0), 3)
    before = max(p.abs().max().item() for p in models.discriminator.parameters())
    assert before > 0.01  # the BatchNorm scales start near 1
    for seed in range(3):
        real, _ = _batch((1, 8, 8), seed=seed)
        trainer.step([(real, None), (real, None)])
    for p in models.discriminator.parameters():
        assert p.abs().max().item() <= 0.01 + 1e-9


def test_losses_known_values():
    zero = torch.zeros(4)
    log2 = torch.log(torch.tensor(2.0)).item()
    assert losses.discriminator_loss("minimax", zero, zero).item() == pytest.approx(2 * log2)
    assert losses.generator_loss("nonsaturating", zero).item() == pytest.approx(log2)
    assert losses.generator_loss("minimax", zero).item() == pytest.approx(-log2)
    assert losses.discriminator_loss("hinge", zero, zero).item() == pytest.approx(2.0)
    assert losses.discriminator_loss("least_squares", zero, zero).item() == pytest.approx(0.5)
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([-1.0, 0.0])
    assert losses.discriminator_loss("wasserstein", real, fake).item() == pytest.approx(-2.5)
    # one-sided smoothing: the real target is 0.9, fakes keep target 0
    smoothed = losses.discriminator_loss("nonsaturating", real, fake, smoothing=0.1)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        real, torch.full_like(real, 0.9)) + torch.nn.functional.softplus(fake).mean()
    assert smoothed.item() == pytest.approx(expected.item())
    with pytest.raises(ValueError):
        losses.discriminator_loss("hinge", real, fake, smoothing=0.1)
    assert losses.discriminator_outputs("minimax", zero).item() == pytest.approx(0.5)
    assert losses.discriminator_outputs("hinge", real).item() == pytest.approx(2.0)
