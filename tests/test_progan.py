"""Progressive growing (Karras et al. 2018): shapes, gradient flow, fade-in, schedule, layers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from ganbench.models.dcgan import plan
from ganbench.models.progan import (EqualizedConv2d, EqualizedLinear, MinibatchStdDev,
                                    PixelNorm, ProGANDiscriminator, ProGANGenerator,
                                    progressive_stage)

Z_DIM, WIDTH, CLASSES, N = 8, 4, 3, 4
SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8), (3, 29, 29)]


def _models(shape, num_classes=0, spectral_norm=False, seed=0):
    torch.manual_seed(seed)
    return (ProGANGenerator(Z_DIM, shape, WIDTH, num_classes),
            ProGANDiscriminator(shape, WIDTH, num_classes, spectral_norm=spectral_norm))


def _inputs(shape, num_classes, n=N, seed=1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, Z_DIM, generator=g)
    real = torch.rand((n, *shape), generator=g) * 2 - 1
    labels = torch.randint(CLASSES, (n,), generator=g) if num_classes else None
    return z, real, labels


def _stages(num_levels):
    yield 0, 1.0
    for level in range(1, num_levels):
        for alpha in (0.0, 0.5, 1.0):
            yield level, alpha


@pytest.mark.parametrize("num_classes", [0, CLASSES], ids=["uncond", "cond"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_shapes_at_every_stage(shape, num_classes):
    G, D = _models(shape, num_classes)
    k, _ = plan(shape[1], shape[2])
    assert G.num_levels == D.num_levels == k + 1
    assert G.stage == D.stage == (k, 1.0)  # built fully grown
    z, real, labels = _inputs(shape, num_classes)
    with torch.no_grad():
        for level, alpha in _stages(G.num_levels):
            G.set_stage(level, alpha)
            D.set_stage(level, alpha)
            fake = G(z, labels)
            assert fake.shape == (N, *shape)
            assert torch.isfinite(fake).all() and fake.abs().max() <= 1
            logits, features = D(real, labels, return_features=True)
            assert logits.shape == (N,) and torch.isfinite(logits).all()
            assert features.dim() == 2 and features.shape[0] == N
            assert features.shape[1] == D.out_features
            assert torch.equal(D(real, labels), logits)


def test_conditional_models_require_labels():
    G, D = _models((1, 8, 8), CLASSES)
    z, real, _ = _inputs((1, 8, 8), CLASSES)
    with pytest.raises(ValueError, match="labels"):
        G(z)
    with pytest.raises(ValueError, match="labels"):
        D(real)


def _used(prefixes, name):
    return any(name.startswith(p) for p in prefixes)


def _check_grads(module, prefixes) -> set[str]:
    """Used parameters get non-zero finite grads, the others none; returns the used names."""
    used = set()
    for name, p in module.named_parameters():
        if _used(prefixes, name):
            assert p.grad is not None, f"{name}: no gradient"
            assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
            assert p.grad.abs().sum() > 0, f"{name}: zero gradient"
            used.add(name)
        else:
            assert p.grad is None, f"{name}: gradient at a stage that does not use it"
    return used


@pytest.mark.parametrize("shape,num_classes,spectral_norm",
                         [((1, 28, 28), CLASSES, False), ((3, 29, 29), 0, False),
                          ((1, 8, 8), CLASSES, True)])
def test_gradient_flow(shape, num_classes, spectral_norm):
    G, D = _models(shape, num_classes, spectral_norm)
    z, real, labels = _inputs(shape, num_classes)
    used_g, used_d = set(), set()
    for level, alpha in _stages(G.num_levels):
        if alpha == 0.0:  # the new block then gets exactly zero gradient (it is faded out)
            continue
        G.set_stage(level, alpha)
        D.set_stage(level, alpha)
        G.zero_grad(set_to_none=True)
        D.zero_grad(set_to_none=True)
        fake = G(z, labels)
        d_loss = (F.softplus(-D(real, labels)) + F.softplus(D(fake.detach(), labels))).mean()
        d_loss.backward()
        fading = 0 < level and alpha < 1
        blocks = [f"blocks.{i}." for i in range(level + 1)]
        used_d |= _check_grads(D, blocks + ["head.", f"from_rgb.{level}."]
                               + ([f"from_rgb.{level - 1}."] if fading else []))
        D.zero_grad(set_to_none=True)
        F.softplus(-D(fake, labels)).mean().backward()  # nonsaturating G loss
        used_g |= _check_grads(G, blocks + ["labels.", f"to_rgb.{level}."]
                               + ([f"to_rgb.{level - 1}."] if fading else []))
    # every parameter is trained at some stage (old to_rgb / from_rgb only while fading)
    assert used_g == {name for name, _ in G.named_parameters()}
    assert used_d == {name for name, _ in D.named_parameters()}


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("shape,num_classes", [((1, 28, 28), CLASSES), ((3, 29, 29), 0)])
def test_fade_in_is_continuous(shape, num_classes, spectral_norm):
    """At ``(level l, alpha 0)`` both networks compute what they computed at ``(l - 1, 1)``."""
    G, D = _models(shape, num_classes, spectral_norm)
    G.eval(), D.eval()  # no power iteration between the two calls
    z, real, labels = _inputs(shape, num_classes)
    with torch.no_grad():
        for level in range(1, G.num_levels):
            G.set_stage(level - 1, 1.0)
            D.set_stage(level - 1, 1.0)
            before = G(z, labels), D(real, labels)
            G.set_stage(level, 0.0)
            D.set_stage(level, 0.0)
            after = G(z, labels), D(real, labels)
            assert torch.equal(after[0], before[0])  # bit-exact: same ops on the same values
            assert torch.equal(after[1], before[1])
            G.set_stage(level, 0.5)  # and the fade does change something
            assert not torch.allclose(G(z, labels), before[0])


def test_set_stage_validates_and_state_dict_keeps_the_stage():
    G, D = _models((3, 32, 32), CLASSES)
    for net in (G, D):
        for level, alpha in ((-1, 1.0), (net.num_levels, 1.0), (0, -0.1), (1, 1.5),
                             (1, math.nan), (0.5, 1.0)):
            with pytest.raises(ValueError):
                net.set_stage(level, alpha)
        net.set_stage(1, 0.25)
    z, real, labels = _inputs((3, 32, 32), CLASSES)
    G2, D2 = _models((3, 32, 32), CLASSES, seed=1)
    assert G2.stage == (G2.num_levels - 1, 1.0)
    G2.load_state_dict(G.state_dict())
    D2.load_state_dict(D.state_dict())
    assert G2.stage == D2.stage == (1, 0.25)
    assert {"level", "alpha"} <= set(G.state_dict()) & set(D.state_dict())
    with torch.no_grad():
        assert torch.equal(G2(z, labels), G(z, labels))
        assert torch.equal(D2(real, labels), D(real, labels))


def test_equalized_layers_scale_weights_at_runtime():
    torch.manual_seed(0)
    conv, linear = EqualizedConv2d(64, 32, 3), EqualizedLinear(512, 64, gain=1.0)
    for layer, fan_in, gain in ((conv, 64 * 9, math.sqrt(2)), (linear, 512, 1.0)):
        assert layer.weight.std().item() == pytest.approx(1.0, rel=0.03)  # stored as N(0, 1)
        effective = layer.weight * layer.scale
        assert effective.std().item() == pytest.approx(gain / math.sqrt(fan_in), rel=0.03)
        assert torch.count_nonzero(layer.bias) == 0
    x = torch.randn(2, 64, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias,
                                                 padding=1))


def test_pixel_norm_gives_unit_mean_square():
    x = torch.randn(3, 16, 4, 4) * 5
    torch.testing.assert_close(PixelNorm()(x).square().mean(dim=1), torch.ones(3, 4, 4),
                               rtol=1e-4, atol=1e-4)


def test_minibatch_stddev():
    torch.manual_seed(0)
    same = torch.randn(1, 5, 3, 3).expand(8, 5, 3, 3).contiguous()
    out = MinibatchStdDev()(same)
    assert out.shape == (8, 6, 3, 3)
    assert torch.equal(out[:, :5], same)
    assert out[:, 5].abs().max() < 1e-3  # sqrt(0 + 1e-8) = 1e-4
    x = torch.randn(8, 5, 3, 3)  # groups of 4: samples {0, 2, 4, 6} and {1, 3, 5, 7}
    stat = MinibatchStdDev()(x)[:, 5]
    for i in range(8):
        group = x[i % 2::2]
        expected = torch.sqrt(group.var(dim=0, unbiased=False) + 1e-8).mean()
        torch.testing.assert_close(stat[i], torch.full((3, 3), expected.item()))
    x = torch.randn(6, 5, 3, 3)  # 6 is no multiple of 4: the whole batch is one group
    expected = torch.sqrt(x.var(dim=0, unbiased=False) + 1e-8).mean()
    torch.testing.assert_close(MinibatchStdDev()(x)[:, 5], torch.full((6, 3, 3), expected.item()))


def test_spectral_norm_discriminator():
    _, D = _models((3, 16, 16), CLASSES, spectral_norm=True)
    assert not any(isinstance(m, (EqualizedConv2d, EqualizedLinear)) for m in D.modules())
    normalised = [m for m in D.modules() if parametrize.is_parametrized(m, "weight")]
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in D.modules())
    assert len(normalised) == convs + 1  # every conv and the logit linear
    _, real, labels = _inputs((3, 16, 16), CLASSES)
    for _ in range(5):  # power iteration runs in train mode
        D(real, labels)
    D.eval()
    with torch.no_grad():
        for m in normalised:
            sigma = torch.linalg.matrix_norm(m.weight.reshape(m.weight.shape[0], -1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.1)


def test_channels_last_and_bf16_autocast():
    G, D = _models((3, 32, 32), CLASSES)
    G.to(memory_format=torch.channels_last)
    D.to(memory_format=torch.channels_last)
    z, real, labels = _inputs((3, 32, 32), CLASSES)
    real = real.contiguous(memory_format=torch.channels_last)
    for level, alpha in ((1, 0.5), (3, 1.0)):
        G.set_stage(level, alpha)
        D.set_stage(level, alpha)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fake = G(z, labels)
            loss = F.softplus(-D(fake, labels)).mean() + F.softplus(-D(real, labels)).mean()
        assert fake.shape == (N, 3, 32, 32) and torch.isfinite(fake).all()
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in G.parameters() if p.grad is not None)


def test_progressive_stage_schedule():
    def stage(step, stage_epochs=2.0, fade_epochs=1.0, num_levels=3):
        return progressive_stage(step, 10, stage_epochs, fade_epochs, num_levels)

    assert stage(0) == (0, 1.0)
    assert stage(19) == (0, 1.0)
    assert stage(20) == (1, 0.0)
    assert stage(25) == (1, pytest.approx(0.5))
    assert stage(30) == (1, 1.0)
    assert stage(39) == (1, 1.0)
    assert stage(40) == (2, 0.0)
    assert stage(47) == (2, pytest.approx(0.7))
    assert stage(10_000) == (2, 1.0)  # the last level stays
    assert stage(20, fade_epochs=0.0) == (1, 1.0)
    assert stage(5, stage_epochs=0.0, fade_epochs=0.0) == (2, 1.0)  # fully grown from step 0
    assert stage(123, num_levels=1) == (0, 1.0)
    # epoch 0.3 / 0.1 is 2.999... in floating point: still level 3, just starting to fade
    assert progressive_stage(3, 10, 0.1, 0.05, 5) == (3, pytest.approx(0.0, abs=1e-9))


@pytest.mark.parametrize("args,match", [
    ((-1, 10, 2.0, 1.0, 3), "step"),
    ((1.5, 10, 2.0, 1.0, 3), "step"),
    ((0, 0, 2.0, 1.0, 3), "steps_per_epoch"),
    ((0, 10, -1.0, 0.0, 3), "stage_epochs"),
    ((0, 10, math.inf, 1.0, 3), "stage_epochs"),
    ((0, 10, 2.0, -0.5, 3), "fade_epochs"),
    ((0, 10, 2.0, 3.0, 3), "must not exceed"),
    ((0, 10, 2.0, 1.0, 0), "num_levels"),
])
def test_progressive_stage_errors(args, match):
    with pytest.raises(ValueError, match=match):
        progressive_stage(*args)
