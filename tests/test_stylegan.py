"""The StyleGAN2 generator: shapes, gradients, demodulation, truncation, mixing, noise modes."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from ganbench.models.dcgan import plan
from ganbench.models.stylegan import (
    W_AVG_BETA,
    StyleGANGenerator,
    mixing_cutoff,
    modulated_conv2d,
    style_mixing_images,
)

Z_DIM = 8


def make_g(shape=(1, 28, 28), width=4, num_classes=0, seed=0, **kwargs) -> StyleGANGenerator:
    torch.manual_seed(seed)
    return StyleGANGenerator(Z_DIM, shape, width, num_classes, **kwargs)


def _z(n, seed=1):
    return torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed))


def _labels(n, num_classes=3, seed=2):
    return torch.randint(num_classes, (n,), generator=torch.Generator().manual_seed(seed))


def _broadcast(G, w):
    return w.unsqueeze(1).expand(-1, G.num_ws, -1)


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (1, 29, 29),
                                   (3, 12, 20)], ids=lambda s: "x".join(map(str, s)))
def test_shapes_range_and_num_ws(shape, conditional):
    classes = 3 if conditional else 0
    G = make_g(shape, num_classes=classes)
    labels = _labels(5) if conditional else None
    for train in (True, False):
        G.train(train)
        out = G(_z(5), labels)
        assert out.shape == (5, *shape)
        assert torch.isfinite(out).all() and out.abs().max() <= 1.0
    k, _ = plan(*shape[1:])
    assert G.num_ws == 2 * k + 2 == len(G.synthesis.convs) + 1 == 2 * len(G.synthesis.torgbs)
    assert G.map(_z(5), labels).shape == (5, G.w_dim)
    noise = [name for name, _ in G.synthesis.named_buffers() if name.startswith("noise_const_")]
    assert len(noise) == len(G.synthesis.convs)
    with pytest.raises(ValueError):
        G.synthesize(torch.zeros(5, G.num_ws - 1, G.w_dim))
    if conditional:
        with pytest.raises(ValueError):
            G(_z(5))


def test_default_w_dim_and_channels():
    G = make_g((1, 28, 28), width=8)
    assert G.w_dim == max(Z_DIM, 16)
    # 7x7 @ 4w -> 14x14 @ 2w -> 28x28 @ w
    assert G.synthesis.const.shape == (1, 32, 7, 7)
    assert [t.conv.weight.shape[1] for t in G.synthesis.torgbs] == [32, 16, 8]
    assert make_g((3, 64, 64), width=8).synthesis.const.shape[1] == 64  # capped at 8w


def test_gradients_reach_every_parameter():
    G = make_g((1, 16, 16), num_classes=3).train()
    target = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    ((G(_z(6), _labels(6)) - target) ** 2).mean().backward()
    names = [name for name, _ in G.named_parameters()]
    for part in ("mapping.layers.0", "mapping.labels", "synthesis.const", "convs.0.conv.weight",
                 "convs.0.conv.affine", "noise_strength", "torgbs.0", "torgbs.2"):
        assert any(part in name for name in names), part
    for name, p in G.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def _reference_modconv(x, weight, styles, demodulate, up=False):
    """StyleGAN2 eq. 1-3 literally: per-sample weights, grouped conv (bilinear up + conv)."""
    n, c_in, _, _ = x.shape
    w = styles[:, None, :, None, None] * weight[None]  # (N, O, I, k, k)
    if demodulate:
        w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    if up:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    out = F.conv2d(x.reshape(1, n * c_in, *x.shape[2:]), w.reshape(-1, c_in, *weight.shape[2:]),
                   padding=weight.shape[-1] // 2, groups=n)
    return out.reshape(n, -1, *out.shape[2:])


def test_demodulation_unit_variance_and_scale_invariance():
    torch.manual_seed(0)
    x = torch.randn(4, 48, 24, 24)
    weight = torch.randn(16, 48, 3, 3) * torch.rand(16, 1, 1, 1) * 3  # uneven channel scales
    styles = torch.rand(4, 48) * 2 + 0.1
    out = modulated_conv2d(x, weight, styles)
    std = out[..., 1:-1, 1:-1].std(dim=(0, 2, 3))  # interior: no zero padding in the taps
    assert ((std > 0.9) & (std < 1.1)).all(), std
    torch.testing.assert_close(modulated_conv2d(x, weight, styles * 10), out,
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out, _reference_modconv(x, weight, styles, True),
                               rtol=1e-4, atol=1e-4)
    plain = modulated_conv2d(x, weight, styles, demodulate=False)
    torch.testing.assert_close(plain, _reference_modconv(x, weight, styles, False),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(modulated_conv2d(x, weight, styles * 10, demodulate=False),
                               plain * 10, rtol=1e-4, atol=1e-3)


def test_upsampling_conv_is_bilinear_upsample_then_conv():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(2, 8, 6, 6), torch.randn(4, 8, 3, 3), torch.rand(2, 8) + 0.5
    out = modulated_conv2d(x, weight, styles, up=True)
    assert out.shape == (2, 4, 12, 12)
    ref = _reference_modconv(x, weight, styles, True, up=True)
    # identical away from the border (zero vs replicated edges)
    torch.testing.assert_close(out[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], rtol=1e-4, atol=1e-4)


def test_w_space_interpolation_is_smooth():
    G = make_g((1, 28, 28), width=8).eval()
    with torch.no_grad():
        w0, w1 = G.map(_z(2))
        t = torch.linspace(0, 1, 9)[:, None]
        images = G.synthesize(_broadcast(G, w0 + t * (w1 - w0)))
    ends = (images[-1] - images[0]).abs().mean()
    steps = (images[1:] - images[:-1]).abs().mean(dim=(1, 2, 3))
    assert ends > 0.01
    assert (steps < 0.5 * ends).all(), (steps, ends)


def test_truncation():
    G = make_g((1, 16, 16), num_classes=3).train()
    with torch.no_grad():
        for seed in range(3):
            G(_z(8, seed), _labels(8, seed=seed))  # moves w_avg away from zero
        G.eval()
        z, labels = _z(4, seed=7), _labels(4, seed=8)
        free = G(z, labels)
        assert (free[0] - free[1]).abs().max() > 1e-3
        G.truncation_psi = 0.0
        trunc = G(z, labels)
        assert G.w_avg.abs().sum() > 0
        torch.testing.assert_close(trunc, trunc[:1].expand_as(trunc))
        torch.testing.assert_close(trunc[:1], G.synthesize(_broadcast(G, G.w_avg[None])))
        G.truncation_psi = 0.5
        w = G.map(z, labels)
        torch.testing.assert_close(G(z, labels),
                                   G.synthesize(_broadcast(G, G.w_avg + 0.5 * (w - G.w_avg))))
        G.train()  # no truncation in training mode
        G.noise_generator = torch.Generator().manual_seed(0)
        out = G(z, labels)
        G.noise_generator = torch.Generator().manual_seed(0)
        G.truncation_psi = 1.0
        torch.testing.assert_close(out, G(z, labels))


def test_style_mixing_regularisation():
    G = make_g((1, 16, 16), num_classes=3).train()
    z, mix_z, labels = _z(6), _z(6, seed=5), _labels(6)
    G(z, labels, mix_z=mix_z, mix_cutoff=2).square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in G.parameters())
    assert G.mapping.layers[0].weight.grad.abs().sum() > 0
    for bad in (0, G.num_ws, -1, 1.5, True):
        with pytest.raises(ValueError):
            G(z, labels, mix_z=mix_z, mix_cutoff=bad)
    with pytest.raises(ValueError):
        G(z, labels, mix_z=mix_z)
    with pytest.raises(ValueError):
        G(z, labels, mix_cutoff=1)
    with pytest.raises(ValueError):
        G(z, labels, mix_z=mix_z[:3], mix_cutoff=1)
    G.eval()
    with torch.no_grad():
        mixed = G(z, labels, mix_z=mix_z, mix_cutoff=3)
        w, w_mix = G.map(z, labels), G.map(mix_z, labels)
        ws = torch.cat([_broadcast(G, w)[:, :3], _broadcast(G, w_mix)[:, 3:]], dim=1)
        torch.testing.assert_close(mixed, G.synthesize(ws))


def test_eval_is_batch_independent_and_training_noise_is_seedable():
    G = make_g((1, 16, 16), width=8).eval()
    z = _z(5)
    with torch.no_grad():
        for layer in G.synthesis.convs:
            layer.noise_strength.fill_(0.5)  # make the noise visible
        torch.testing.assert_close(G(z)[:1], G(z[:1]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(G(z), G(z))
        G.train()
        G.noise_generator = torch.Generator().manual_seed(4)
        first, second = G(z), G(z)
        assert (first - second).abs().max() > 1e-4  # fresh noise per call
        G.noise_generator = torch.Generator().manual_seed(4)
        torch.testing.assert_close(G(z), first)


def test_w_avg_updates_in_training_only():
    G = make_g((1, 8, 8))
    assert torch.equal(G.w_avg, torch.zeros(G.w_dim))
    z = _z(16)
    with torch.no_grad():
        G.train()(z)
        expected = (1 - W_AVG_BETA) * G.map(z).mean(dim=0)
        torch.testing.assert_close(G.w_avg, expected)
        before = G.w_avg.clone()
        G.eval()(z)
        G.truncation_psi = 0.7
        G(z)
        assert torch.equal(G.w_avg, before)


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
def test_style_mixing_images(conditional):
    G = make_g((3, 16, 16), num_classes=3 if conditional else 0).train()
    z_rows, z_cols = _z(3, seed=1), _z(2, seed=2)
    lr, lc = (_labels(3, seed=3), _labels(2, seed=4)) if conditional else (None, None)
    assert G.num_ws == 6 and mixing_cutoff(G.num_ws) == 3
    mix = style_mixing_images(G, z_rows, z_cols, labels_rows=lr, labels_cols=lc)
    assert G.training  # mode restored
    assert mix.grid.shape == (3, 2, 3, 16, 16)
    assert mix.rows.shape == (3, 3, 16, 16) and mix.cols.shape == (2, 3, 16, 16)
    with torch.no_grad():
        G.eval()
        torch.testing.assert_close(mix.rows, G(z_rows, lr))
        torch.testing.assert_close(mix.cols, G(z_cols, lc))
        w_r, w_c = G.map(z_rows, lr), G.map(z_cols, lc)
        ws = torch.cat([_broadcast(G, w_r[2:3])[:, :3], _broadcast(G, w_c[1:2])[:, 3:]], dim=1)
        torch.testing.assert_close(mix.grid[2, 1], G.synthesize(ws)[0])
    only_rows = style_mixing_images(G, z_rows, z_cols, G.num_ws, lr, lc)
    only_cols = style_mixing_images(G, z_rows, z_cols, 0, lr, lc)
    for r in range(3):
        for c in range(2):
            torch.testing.assert_close(only_rows.grid[r, c], mix.rows[r])
            torch.testing.assert_close(only_cols.grid[r, c], mix.cols[c])
    with pytest.raises(ValueError):
        style_mixing_images(G, z_rows, z_cols, G.num_ws + 1, lr, lc)


def test_mixing_cutoff():
    assert [mixing_cutoff(n) for n in (2, 4, 6, 8, 10)] == [1, 2, 3, 4, 5]


def test_channels_last_and_bf16_autocast():
    G = make_g((3, 28, 28), width=8, num_classes=3).eval()
    z, labels = _z(4), _labels(4)
    with torch.no_grad():
        ref = G(z, labels)
        G.to(memory_format=torch.channels_last)
        assert G.synthesis.const.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(G(z, labels), ref, rtol=1e-4, atol=1e-4)
    G.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = G(z, labels, mix_z=_z(4, seed=9), mix_cutoff=2)
    out.float().square().mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in G.parameters())
    G.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = G(z, labels)
    assert (low.float() - ref).abs().mean() < 0.05


def test_state_dict_round_trip():
    G = make_g((1, 16, 16), num_classes=3)
    G.truncation_psi = 0.5
    G.noise_generator = torch.Generator()
    state = G.state_dict()
    assert "w_avg" in state and "synthesis.noise_const_0" in state
    assert not any("psi" in key or "generator" in key for key in state)
    H = make_g((1, 16, 16), num_classes=3, seed=1)
    H.load_state_dict(state)
    assert H.truncation_psi == 1.0 and H.noise_generator is None
    z, labels = _z(3), _labels(3)
    with torch.no_grad():
        G.truncation_psi = 1.0
        torch.testing.assert_close(H.eval()(z, labels), G.eval()(z, labels))


def test_mapping_input_is_normalised_and_lr_multiplier():
    G = make_g((1, 8, 8), mapping_layers=2)
    assert len(G.mapping.layers) == 2
    layer = G.mapping.layers[0]
    assert math.isclose(layer.weight_gain, 0.01 / math.sqrt(Z_DIM))
    with torch.no_grad():
        z = _z(3)
        torch.testing.assert_close(G.map(z * 5), G.map(z), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        make_g((1, 8, 8), mapping_layers=0)
