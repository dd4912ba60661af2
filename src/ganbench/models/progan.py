"""Progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation"), sized for 8-64 pixel images.

Resolution levels come from DCGAN's ``plan``: level 0 is ``s0_h x s0_w`` (``s0`` in 4..7, e.g.
7x7 for 28x28), level ``l`` is ``s0 * 2**l`` and the last level ``k`` is the first at least as
large as the image (sides like 9 or 29 are centre-cropped from it, as in DCGAN's decoder).
Feature maps halve at each doubling from ``8 * width`` at most down to ``width`` (never fewer).

Generator (sec. 2 and appendix A): ``[z, embed(y)] -> PixelNorm -> Linear -> (c0, s0, s0)``, a
3x3 convolution, then per level a nearest 2x upsampling and two 3x3 convolutions; every hidden
layer is followed by LeakyReLU(0.2) and pixelwise feature normalisation (sec. 4.2). A linear
1x1 ``to_rgb`` per level makes the image, which is upsampled (nearest) to the last level and
cropped, so the output is always ``(N, C, H, W)`` in [-1, 1] (tanh).

Discriminator mirrors it: a 1x1 ``from_rgb`` (+ LeakyReLU) per level, blocks of two 3x3
convolutions + LeakyReLU then 2x average pooling, and at level 0 the minibatch standard deviation
layer (sec. 3), a 3x3 convolution and a linear logit (the label projection head of Miyato &
Koyama 2018 when conditional). The full-size input is first zero-padded to the last level's size
at the same offsets as G's crop (both real and fake images get the same border, so the padding
tells D nothing), then average-pooled 2x at a time down to the current level: repeated 2x pooling
equals one pooling by ``2**(last - level)`` and makes the fade-in bit-exact.

Fade-in (sec. 2, fig. 2): the buffers ``level`` and ``alpha`` (saved in the state dict) select the
stage. While a new level fades in, G outputs ``lerp(up2(to_rgb[l-1](h)), to_rgb[l](block_l(h)),
alpha)`` and D reads ``lerp(from_rgb[l-1](pool2(x)), block_l(from_rgb[l](x)), alpha)``; at
``alpha = 0`` both networks compute exactly what they computed at ``(l - 1, alpha = 1)``. The
stage is read from the buffers at every forward (a host sync on GPU) so that copying buffers (EMA
updates, ``load_state_dict``) is enough to move it; change it with ``set_stage``.

Equalised learning rate (sec. 4.1): weights are drawn from N(0, 1) and scaled at runtime by
``gain / sqrt(fan_in)`` (He's constant), biases start at zero. As in the authors' code, the gain
is sqrt(2) before a LeakyReLU and 1 for the linear ``to_rgb`` and logit layers. With
``spectral_norm=True`` D's convolutions and linears are instead plain layers (PyTorch default
init) wrapped in spectral normalisation (Miyato et al. 2018): the normalisation fixes each
layer's scale, so the runtime He scaling would only rescale the Lipschitz bound.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ganbench.models.conditioning import LabelEmbedding, ProjectionHead
from ganbench.models.dcgan import channels_at, plan

__all__ = ["EqualizedConv2d", "EqualizedLinear", "MinibatchStdDev", "PixelNorm",
           "ProGANDiscriminator", "ProGANGenerator", "progressive_stage"]

HE_GAIN = math.sqrt(2.0)  # gain for layers followed by LeakyReLU (Karras 2018, sec. 4.1)
LRELU_SLOPE = 0.2
MBSTD_GROUP = 4  # group size of the minibatch standard deviation layer (Karras 2018, sec. 3)


def progressive_stage(step: int, steps_per_epoch: int, stage_epochs: float, fade_epochs: float,
                      num_levels: int) -> tuple[int, float]:
    """``(level, alpha)`` at optimiser step ``step`` of the growing schedule (Karras 2018, sec. 2).

    With ``epoch = step / steps_per_epoch``, level ``l`` starts at ``l * stage_epochs`` (the last
    level stays once reached) and fades in linearly over its first ``fade_epochs``; level 0 has
    nothing to fade from (alpha 1). ``fade_epochs`` may not exceed ``stage_epochs`` (a level must
    be fully in before the next starts); ``stage_epochs = 0`` means fully grown from step 0.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) \
            or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be an int >= 1, got {steps_per_epoch!r}")
    if isinstance(num_levels, bool) or not isinstance(num_levels, int) or num_levels < 1:
        raise ValueError(f"num_levels must be an int >= 1, got {num_levels!r}")
    for name, value in (("stage_epochs", stage_epochs), ("fade_epochs", fade_epochs)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if fade_epochs > stage_epochs:
        raise ValueError(f"fade_epochs ({fade_epochs}) must not exceed stage_epochs "
                         f"({stage_epochs}): a level must finish fading in before the next starts")
    last = num_levels - 1
    if stage_epochs == 0:
        return last, 1.0
    epoch = step / steps_per_epoch
    # The tiny slack keeps e.g. 0.3 / 0.1 = 2.9999999999999996 on the level it is meant to hit.
    level = min(math.floor(epoch / stage_epochs + 1e-9), last)
    if level == 0 or fade_epochs == 0:
        return level, 1.0
    alpha = (epoch - level * stage_epochs) / fade_epochs
    return level, min(1.0, max(0.0, alpha))


class EqualizedLinear(nn.Module):
    """Linear layer with the equalised learning rate (Karras 2018, sec. 4.1)."""

    def __init__(self, in_features: int, out_features: int, gain: float = HE_GAIN):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, scale={self.scale:.4g}"


class EqualizedConv2d(nn.Module):
    """Stride-1 ``same``-padded convolution with the equalised learning rate (Karras 2018)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 gain: float = HE_GAIN):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.padding = kernel_size, kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"scale={self.scale:.4g}")


class PixelNorm(nn.Module):
    """``x / sqrt(mean over channels of x**2 + 1e-8)`` (Karras 2018, sec. 4.2); dim 1 is C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the batch std of each feature, averaged (Karras 2018, sec. 3).

    Samples are split into groups of ``min(4, N)`` (sample ``i`` in group ``i % (N / g)``, as in
    the authors' code); when ``N`` is not a multiple of that, the whole batch is one group. The
    std is the biased one, ``sqrt(mean((x - mean)**2) + 1e-8)``, computed in float32.
    """

    def __init__(self, group_size: int = MBSTD_GROUP):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        group = min(self.group_size, n)
        if n % group:
            group = n
        y = x.float().reshape(group, n // group, *x.shape[1:])
        std = torch.sqrt((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8)  # (N / g, C, H, W)
        stat = std.mean(dim=(1, 2, 3)).repeat(group)  # sample i gets its group's value
        stat = stat.to(x.dtype).view(n, 1, 1, 1).expand(n, 1, height, width)
        return torch.cat([x, stat], dim=1)


def _channels(level: int, k: int, width: int) -> int:
    """Feature maps at ``level``: DCGAN's halving (at most ``8 * width``), at least ``width``."""
    return channels_at(min(level, k - 1), k, width)


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(LRELU_SLOPE)


def _upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor (pure copies: exact in any dtype)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


class _Progressive(nn.Module):
    """The stage shared by G and D: ``level`` (int64) and ``alpha`` (float32) buffers."""

    num_levels: int

    def _init_stage(self, num_levels: int) -> None:
        self.num_levels = num_levels
        self.register_buffer("level", torch.tensor(num_levels - 1, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0, dtype=torch.float32))

    def set_stage(self, level: int, alpha: float) -> None:
        """Grow to ``level`` (0 .. num_levels - 1) with fade-in weight ``alpha`` in [0, 1]."""
        if isinstance(level, bool) or int(level) != level or not 0 <= level < self.num_levels:
            raise ValueError(f"level must be an int in [0, {self.num_levels - 1}], got {level!r}")
        if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.level.fill_(int(level))
        self.alpha.fill_(float(alpha))

    @property
    def stage(self) -> tuple[int, float]:
        """The current ``(level, alpha)``."""
        return int(self.level), float(self.alpha)


class ProGANGenerator(_Progressive):
    """``(z (N, z_dim), labels (N,) | None) -> (N, C, H, W)`` in [-1, 1], at any stage.

    Built fully grown (last level, alpha 1); ``load_state_dict`` restores a saved stage.
    """

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int,
                 num_classes: int = 0):
        super().__init__()
        self.z_dim, self.image_shape = z_dim, tuple(image_shape)
        _, height, wide = self.image_shape
        k, (h0, w0) = plan(height, wide)
        self._init_stage(k + 1)
        self.labels = LabelEmbedding(num_classes)
        c0 = _channels(0, k, width)
        blocks: list[nn.Module] = [nn.Sequential(
            PixelNorm(), EqualizedLinear(z_dim + self.labels.dim, c0 * h0 * w0),
            nn.Unflatten(1, (c0, h0, w0)), _lrelu(), PixelNorm(),
            EqualizedConv2d(c0, c0, 3), _lrelu(), PixelNorm())]
        for level in range(1, k + 1):
            c_in, c_out = _channels(level - 1, k, width), _channels(level, k, width)
            blocks.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                EqualizedConv2d(c_in, c_out, 3), _lrelu(), PixelNorm(),
                EqualizedConv2d(c_out, c_out, 3), _lrelu(), PixelNorm()))
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = nn.ModuleList(
            EqualizedConv2d(_channels(level, k, width), self.image_shape[0], 1, gain=1.0)
            for level in range(k + 1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        level, alpha = self.stage
        h = self.blocks[0](self.labels.concat(z, labels))
        for inner in range(1, level):
            h = self.blocks[inner](h)
        if level == 0:
            rgb = self.to_rgb[0](h)
        else:
            rgb = self.to_rgb[level](self.blocks[level](h))
            if alpha < 1.0:
                rgb = torch.lerp(_upsample(self.to_rgb[level - 1](h), 2), rgb, alpha)
        rgb = _upsample(rgb, 2 ** (self.num_levels - 1 - level))
        _, height, wide = self.image_shape
        top, left = (rgb.shape[2] - height) // 2, (rgb.shape[3] - wide) // 2
        return torch.tanh(rgb[:, :, top:top + height, left:left + wide])


class ProGANDiscriminator(_Progressive):
    """``(x (N, C, H, W), labels | None) -> logits (N,)`` at any stage; ``return_features`` adds
    the flattened level-0 features ``(N, c0 * s0_h * s0_w)`` that feed the logit layer."""

    def __init__(self, image_shape: tuple[int, int, int], width: int, num_classes: int = 0,
                 spectral_norm: bool = False):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.spectral_norm = spectral_norm
        channels, height, wide = self.image_shape
        k, (h0, w0) = plan(height, wide)
        self._init_stage(k + 1)
        # Zero border that brings H x W to the last level's canvas, at G's crop offsets.
        pad_h, pad_w = h0 * 2 ** k - height, w0 * 2 ** k - wide
        self.padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
        conv = self._conv
        self.from_rgb = nn.ModuleList(
            nn.Sequential(conv(channels, _channels(level, k, width), 1), _lrelu())
            for level in range(k + 1))
        c0 = _channels(0, k, width)
        blocks: list[nn.Module] = [nn.Sequential(
            MinibatchStdDev(), conv(c0 + 1, c0, 3), _lrelu(), nn.Flatten())]
        for level in range(1, k + 1):
            c_in, c_out = _channels(level, k, width), _channels(level - 1, k, width)
            blocks.append(nn.Sequential(conv(c_in, c_in, 3), _lrelu(), conv(c_in, c_out, 3),
                                        _lrelu(), nn.AvgPool2d(2)))
        self.blocks = nn.ModuleList(blocks)
        self.out_features = c0 * h0 * w0
        self.head = ProjectionHead(self.out_features, num_classes)
        self.head.linear = (_spectral_norm(self.head.linear) if spectral_norm
                            else EqualizedLinear(self.out_features, 1, gain=1.0))

    def _conv(self, c_in: int, c_out: int, kernel_size: int) -> nn.Module:
        if self.spectral_norm:
            return _spectral_norm(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2))
        return EqualizedConv2d(c_in, c_out, kernel_size)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                return_features: bool = False):
        level, alpha = self.stage
        if any(self.padding):
            x = F.pad(x, self.padding)
        for _ in range(self.num_levels - 1 - level):
            x = F.avg_pool2d(x, 2)
        h = self.from_rgb[level](x)
        if level > 0:
            h = self.blocks[level](h)
            if alpha < 1.0:
                h = torch.lerp(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), h, alpha)
        for inner in range(level - 1, 0, -1):
            h = self.blocks[inner](h)
        features = self.blocks[0](h)
        out = self.head(features, labels)
        return (out, features) if return_features else out
