"""The translators' networks and losses: U-Net, ResNet translator, PatchGAN (shapes, gradients,
receptive field), the L1 / cycle / identity terms and the image pool, against hand-computed
values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganbench import losses
from ganbench.config import ParamsError, VariantParams, validate_section
from ganbench.models import build_models
from ganbench.models.patchgan import PatchDiscriminator, patch_field, patch_layers
from ganbench.models.resnet_translator import ResnetTranslator
from ganbench.models.translation import CyclePair
from ganbench.models.unet import UNetGenerator, unet_depth
from ganbench.training import make_trainer
from ganbench.translation_training import (CycleGANTrainer, ImagePool, L1Trainer,
                                           Pix2PixTrainer, l1)


def cfg(**spec) -> VariantParams:
    return validate_section(VariantParams, {"width": 8, **spec}, "variants.t")


def _grads_reach_every_parameter(module: nn.Module) -> None:
    missing = [n for n, p in module.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)]
    assert not missing, missing


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32), (1, 16, 16)])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_unet_shapes_range_and_gradients(shape, norm):
    torch.manual_seed(0)
    g = UNetGenerator(shape, 8, norm)
    x = torch.rand(3, *shape) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    y.square().mean().backward()
    _grads_reach_every_parameter(g)


def test_unet_depth_halves_to_at_least_four_pixels():
    assert [unet_depth(s, s) for s in (8, 16, 28, 32, 64, 256)] == [1, 2, 2, 3, 4, 6]
    with pytest.raises(ValueError, match="at least 8"):
        unet_depth(6, 6)


def test_unet_skips_carry_the_source_to_the_output():
    """Changing one source pixel changes the output there: the top skip connection."""
    torch.manual_seed(0)
    g = UNetGenerator((1, 16, 16), 8, "none").eval()
    x = (torch.rand(1, 1, 16, 16) * 2 - 1).requires_grad_(True)
    g(x)[0, 0, 3, 3].backward()
    assert x.grad[0, 0, 3, 3] != 0


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 16), (1, 8, 8)])
def test_resnet_translator_shapes_and_gradients(shape):
    torch.manual_seed(0)
    g = ResnetTranslator(shape, 8, blocks=2)
    x = torch.rand(2, *shape) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    y.square().mean().backward()
    _grads_reach_every_parameter(g)
    with pytest.raises(ValueError, match="multiple of 4"):
        ResnetTranslator((1, 14, 14), 8, 2)


@pytest.mark.parametrize("side, layers, field", [(28, 1, 16), (16, 1, 16), (64, 2, 34),
                                                 (128, 3, 70), (256, 3, 70)])
def test_patchgan_receptive_field_is_sized_for_the_image(side, layers, field):
    assert patch_layers(side) == layers
    assert patch_field(layers) == field
    d = PatchDiscriminator(2, side, 4, "none")
    assert d.receptive_field == field


@pytest.mark.parametrize("n_layers_side", [28, 64])
def test_patchgan_receptive_field_matches_the_gradient_support(n_layers_side):
    """The input pixels one logit depends on form a square of the computed side (a centre
    logit, so no border clips it)."""
    torch.manual_seed(0)
    d = PatchDiscriminator(1, n_layers_side, 4, "none").double()
    big = 160  # room around the patch
    x = torch.randn(1, 1, big, big, dtype=torch.double, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten()
    assert int(rows[-1] - rows[0] + 1) == d.receptive_field
    assert int(cols[-1] - cols[0] + 1) == d.receptive_field


@pytest.mark.parametrize("norm", ["instance", "batch", "spectral"])
def test_patchgan_gives_a_map_of_logits_and_gradients(norm):
    torch.manual_seed(0)
    d = PatchDiscriminator(2, 28, 8, norm)
    out = d(torch.randn(4, 2, 28, 28))
    assert out.shape == (4, 1, 12, 12)
    out.mean().backward()
    _grads_reach_every_parameter(d)


def test_build_models_for_each_translation_kind():
    paired = build_models(cfg(task="edges2image", arch="unet"), (1, 16, 16), 10)
    assert isinstance(paired.generator, UNetGenerator)
    assert paired.discriminator.net[0].in_channels == 2  # D sees (source, image)
    assert build_models(cfg(task="edges2image", arch="unet", loss="l1"), (1, 16, 16),
                        10).discriminator is None
    cycle = build_models(cfg(task="digits2mnist", arch="resnet", loss="least_squares",
                             blocks=2), (1, 16, 16), 10)
    assert isinstance(cycle.generator, CyclePair)
    assert cycle.discriminator.a.net[0].in_channels == 1


# --------------------------------------------------------------------------- losses


def test_l1_cycle_and_identity_terms_by_hand():
    a = torch.tensor([[[[0.0, 0.5], [-1.0, 1.0]]]])
    b = torch.tensor([[[[0.5, 0.5], [0.0, 0.0]]]])
    assert l1(a, b).item() == pytest.approx((0.5 + 0 + 1 + 1) / 4)

    class Shift(nn.Module):  # G(x) = x + s: a cycle of +s then -s is exact
        def __init__(self, s):
            super().__init__()
            self.s = s

        def forward(self, x):
            return x + self.s

    pair = CyclePair(Shift(0.25), Shift(-0.25))
    assert l1(pair.ba(pair.ab(a)), a).item() == pytest.approx(0.0)
    assert l1(pair.ab(b), b).item() == pytest.approx(0.25)  # the identity term of G_AB


def test_pix2pix_generator_loss_is_adversarial_plus_lambda_l1():
    """One step's logged G loss equals softplus(-D(source, G(source))) averaged over the patch
    map (with D as updated by the step's D update) + 100 * the L1 distance to the target."""
    torch.manual_seed(0)
    c = cfg(task="edges2image", arch="unet", lambda_l1=100.0)
    models = build_models(c, (1, 8, 8), 10)
    trainer = Pix2PixTrainer(c, models, torch.device("cpu"), torch.Generator().manual_seed(0))
    source, target = torch.rand(4, 1, 8, 8) * 2 - 1, torch.rand(4, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        fake = trainer.G.train()(source)  # instance norm: no running statistics change
    values, _ = trainer.step([(source, target)])
    with torch.no_grad():
        adversarial = torch.nn.functional.softplus(
            -trainer.D(torch.cat([source, fake], dim=1))).mean()
        distance = (fake - target).abs().mean()
    logged = dict(zip(trainer.columns, values.tolist()))
    assert logged["recon"] == pytest.approx(distance.item(), rel=1e-5)
    assert logged["loss_g"] == pytest.approx((adversarial + 100.0 * distance).item(), rel=1e-5)


def test_the_l1_baseline_has_no_discriminator_and_minimises_l1():
    torch.manual_seed(0)
    c = cfg(task="edges2image", arch="unet", loss="l1", lr_g=0.005)
    models = build_models(c, (1, 8, 8), 10)
    trainer = make_trainer(c, models, torch.device("cpu"), torch.Generator().manual_seed(0), 10,
                           (1, 8, 8))
    assert isinstance(trainer, L1Trainer) and "discriminator" not in trainer.modules()
    source = torch.rand(8, 1, 8, 8) * 2 - 1
    target = -source
    first = trainer.step([(source, target)])[0][0].item()
    for _ in range(60):
        last = trainer.step([(source, target)])[0][0].item()
    assert last < 0.5 * first


def test_cyclegan_step_updates_both_generators_and_both_critics():
    torch.manual_seed(0)
    c = cfg(task="digits2mnist", arch="resnet", loss="least_squares", blocks=1, pool_size=4)
    models = build_models(c, (1, 8, 8), 10)
    trainer = make_trainer(c, models, torch.device("cpu"), torch.Generator().manual_seed(0), 10,
                           (1, 8, 8))
    assert isinstance(trainer, CycleGANTrainer)
    before = {k: v.clone() for m in ("generator", "discriminator")
              for k, v in trainer.modules()[m].state_dict().items()}
    values, loss = trainer.step([(torch.rand(3, 1, 8, 8) * 2 - 1, torch.rand(3, 1, 8, 8) * 2 - 1)])
    assert torch.isfinite(values).all() and torch.isfinite(loss)
    after = {k: v for m in ("generator", "discriminator")
             for k, v in trainer.modules()[m].state_dict().items()}
    for prefix in ("ab.", "ba.", "a.", "b."):
        changed = [k for k in before if k.startswith(prefix) and
                   not torch.equal(before[k], after[k])]
        assert changed, prefix
    assert int(trainer.pools["a"].filled) == 3  # the pool took the first fakes


def test_image_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(4, (1, 2, 2))
    rng = torch.Generator().manual_seed(0)
    first = torch.arange(4.0)[:, None, None, None].expand(4, 1, 2, 2).clone()
    assert torch.equal(pool.query(first, rng), first)  # filling: returned as they come
    assert int(pool.filled) == 4
    returned_old = 0
    for step in range(50):
        batch = torch.full((4, 1, 2, 2), 100.0 + step)
        out = pool.query(batch, rng)
        returned_old += int((out[:, 0, 0, 0] != 100.0 + step).sum())
    assert 70 <= returned_old <= 130  # about half of 200
    assert torch.equal(ImagePool(0, (1, 2, 2)).query(first, rng), first)  # size 0: off


# --------------------------------------------------------------------------- params


@pytest.mark.parametrize("spec, message", [
    ({"task": "edges2image"}, "unet or resnet"),
    ({"arch": "unet"}, "image-to-image generator"),
    ({"loss": "l1"}, "translator"),
    ({"task": "digits2mnist", "arch": "resnet", "loss": "l1"}, "unpaired"),
    ({"task": "edges2image", "arch": "unet", "lambda_cycle": 5.0}, "lambda_cycle"),
    ({"task": "digits2mnist", "arch": "unet", "lambda_l1": 5.0}, "lambda_l1"),
    ({"task": "edges2image", "arch": "unet", "conditional": True}, "conditional"),
    ({"task": "edges2image", "arch": "unet", "ema": 0.999}, "ema"),
    ({"lambda_l1": 10.0}, "only translation tasks"),
    ({"task": "edges2image", "arch": "unet", "loss": "wasserstein"}, "translator trains"),
    ({"arch": "dcgan", "normalization_g": "instance"}, "instance"),
])
def test_translation_params_are_checked(spec, message):
    with pytest.raises(ParamsError, match=message):
        cfg(**spec)


def test_presets_make_one_key_enough():
    p2p, cyc, l1u = (validate_section(VariantParams, {"preset": name}, "variants.v")
                     for name in ("pix2pix", "cyclegan", "l1_unet"))
    assert (p2p.task, p2p.arch, p2p.lambda_l1, p2p.objective) == \
        ("edges2image", "unet", 100.0, "nonsaturating")
    assert (cyc.task, cyc.arch, cyc.objective, cyc.lambda_cycle, cyc.pool_size) == \
        ("digits2mnist", "resnet", "least_squares", 10.0, 50)
    assert (l1u.task, l1u.arch, l1u.objective, l1u.width) == ("edges2image", "unet", "l1",
                                                               p2p.width)
    assert np.isclose(cyc.lambda_identity, 0.5)
