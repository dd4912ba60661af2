"""StyleGAN2 generator for small images (8 to 64 pixels a side).

Mapping network (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", sec. 2):
``[z, embed(y)]`` (the ``LabelEmbedding`` route every ganbench generator uses) -> 2nd-moment
normalisation -> ``mapping_layers`` x (equalised-lr linear + LeakyReLU(0.2)) -> ``w``. As in the
paper, the mapping layers learn 100x slower (``lr_mul = 0.01``: weights stored as N(0, 1/lr_mul)
and scaled by ``lr_mul / sqrt(fan_in)`` at run time).

Synthesis network (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
"StyleGAN2"): a learned constant at ``s0_h x s0_w`` (``dcgan.plan``: 4..7 pixels, e.g. 7x7 for
28x28 and 4x4 for 32x32), then ``k`` levels that double the side, so ``k + 1`` levels in all. The
first level has one modulated 3x3 conv; each later one has a 2x upsampling modulated 3x3 conv and
a second modulated 3x3 conv. Every conv is followed by per-pixel noise times a learned per-layer
strength (initialised 0), a bias and LeakyReLU(0.2) times sqrt(2) (StyleGAN2's gain). Every level
has a toRGB (modulated 1x1, no demodulation) in the "skip" architecture: ``rgb = up(rgb) +
toRGB(x)``. Feature maps: ``width * min(2**(k - level), 8)``, i.e. halving per level down to
``width`` at full resolution (28x28: 7x7 @ 4w, 14x14 @ 2w, 28x28 @ w). The last level is at least
the image side; it is centre-cropped to ``H x W`` like DCGAN.

Styles: ``num_ws = 2k + 2``. Conv ``i`` (in order) reads ``ws[:, i]`` and each toRGB shares its
``w`` with the next level's first conv (StyleGAN2's layout); the last toRGB reads ``ws[:, -1]``.

Implementation notes and deviations from the official code:

- Modulation/demodulation (StyleGAN2 sec. 2.2, eq. 1-3) is computed without per-sample weights:
  ``conv(x * s, w) * d`` with ``d_j = 1 / sqrt(sum_ik (s_i w_ijk)^2 + 1e-8)`` equals the conv with
  the per-sample weights ``w''_ijk = d_j s_i w_ijk``. This is the official "non-fused" path; it
  uses one ordinary conv for the batch, much faster on CPU than a grouped conv. The coefficients
  ``d`` are computed in float32 (autocast-safe).
- The upsampling conv is StyleGAN2's: a stride-2 transposed 3x3 conv, then the [1, 3, 3, 1] FIR
  low-pass filter. This equals bilinear 2x upsampling followed by a 3x3 conv (up to zero rather
  than replicated edges) at about a quarter of the cost. The skip path upsamples the RGB image
  bilinearly (``align_corners=False``, i.e. the same filter with replicated edges).
- Output goes through ``tanh`` (StyleGAN's output is linear): ganbench generators return [-1, 1].
- Noise: random (``torch.randn`` with ``noise_generator``) in training mode; in eval mode fixed
  buffers ``synthesis.noise_const_<i>`` drawn at construction (StyleGAN2's ``noise_mode="const"``),
  so an eval sample depends only on its own ``z`` (and label), never on the batch.
- Truncation trick (StyleGAN 2019, appendix B): ``w' = w_avg + psi (w - w_avg)`` on all layers, in
  eval mode when ``truncation_psi != 1``. ``w_avg`` is a running mean of ``w`` updated by training
  forwards (decay 0.995, StyleGAN's ``w_avg_beta``).
- Style mixing regularisation (StyleGAN 2019 sec. 3.1): ``forward(..., mix_z=, mix_cutoff=)``.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ganbench.models.conditioning import LabelEmbedding
from ganbench.models.dcgan import MAX_MULTIPLIER, plan

MAPPING_LR_MUL = 0.01  # learning-rate multiplier of the mapping network (StyleGAN 2019, appendix C)
W_AVG_BETA = 0.995  # decay of the running mean of w (StyleGAN's w_avg_beta)
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEMOD_EPS = 1e-8  # epsilon of StyleGAN2 eq. 3


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit mean square (StyleGAN's pixel norm of the mapping input)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) with StyleGAN's sqrt(2) gain (keeps the second moment of N(0, 1) input)."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling (StyleGAN2's [1, 3, 3, 1] filter up to edge handling)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def blur_after_upsample(x: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's [1, 3, 3, 1] low-pass filter (gain 4 for the zero-inserted samples), padding 1:
    ``(2H + 1) -> 2H`` after a stride-2 transposed 3x3 conv, centred on the output pixels."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], device=x.device, dtype=x.dtype)
    kernel = (taps[:, None] * taps[None, :] / 16.0).expand(x.shape[1], 1, 4, 4)
    return F.conv2d(x, kernel, padding=1, groups=x.shape[1])


def channels_at(level: int, k: int, width: int) -> int:
    """Feature maps of synthesis level ``level`` (0 = the constant, ``k`` = full resolution)."""
    return width * min(2 ** (k - level), MAX_MULTIPLIER)


def mixing_cutoff(num_ws: int) -> int:
    """Where the "coarse" styles end for a style-mixing figure: the first half of the ``ws``.

    StyleGAN (2019, fig. 3) calls 4^2-8^2 coarse; ganbench's images have only 2-5 levels, so the
    split is by count: ``ws[:, :num_ws // 2]`` are coarse, the rest fine.
    """
    return max(1, num_ws // 2)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     demodulate: bool = True, up: bool = False) -> torch.Tensor:
    """StyleGAN2 eq. 1-3: conv of ``x (N, I, H, W)`` with ``w'_ijk = s_i w_ijk`` per sample.

    ``weight (O, I, k, k)`` (already scaled), ``styles (N, I)``; "same" padding. With
    ``demodulate`` each output map is divided by ``sqrt(sum_ik w'_ijk^2 + 1e-8)`` (eq. 3), so the
    output does not depend on the scale of ``s`` and has unit variance for unit-variance input.
    ``up`` (3x3 only): 2x upsampling conv, ``(H, W) -> (2H, 2W)`` (transposed conv + blur).
    """
    n = x.shape[0]
    x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
    if up:
        if weight.shape[-1] != 3:
            raise ValueError("the upsampling conv is 3x3")
        # conv_transpose2d convolves (flipped kernel): flip so it matches conv2d's correlation
        out = F.conv_transpose2d(x, weight.flip([2, 3]).transpose(0, 1), stride=2)
        out = blur_after_upsample(out)
    else:
        out = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
    if not demodulate:
        return out
    with torch.autocast(device_type=x.device.type, enabled=False):
        sq_weight = weight.float().square().sum(dim=(2, 3))  # (O, I)
        coef = (styles.float().square() @ sq_weight.t() + DEMOD_EPS).rsqrt()  # (N, O)
    return out * coef.to(out.dtype).reshape(n, -1, 1, 1)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (Karras et al. 2018, used by both StyleGANs).

    Weights are stored N(0, 1) / lr_mul and scaled by ``lr_mul / sqrt(in_features)`` at run time;
    the bias is stored / lr_mul and scaled by ``lr_mul``. ``activate`` adds :func:`lrelu`.
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return lrelu(x) if self.activate else x


class ModulatedConv2d(nn.Module):
    """``(x, w) -> conv`` modulated by the styles ``s = A(w)`` (StyleGAN2 sec. 2.2).

    ``A`` is an equalised-lr affine layer initialised with bias 1 (StyleGAN2); the conv weight is
    N(0, 1) with the equalised-lr gain ``1 / sqrt(in_channels * k * k)``. No bias here.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, up: bool = False):
        super().__init__()
        self.up = up
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w),
                                self.demodulate, self.up)


class StyleLayer(nn.Module):
    """Modulated 3x3 conv (demodulated; 2x upsampling with ``up``) -> + noise * strength
    -> + bias -> lrelu (StyleGAN2 fig. 2c)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, up: bool):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``noise`` is ``(N or 1, 1, H_out, W_out)``."""
        x = self.conv(x, w)
        x = x + (noise * self.noise_strength).to(x.dtype)
        return lrelu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1))


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation, plus bias, linear (StyleGAN2's tRGB)."""

    def __init__(self, in_channels: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w)
        return x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)


class MappingNetwork(nn.Module):
    """``(z, labels | None) -> w (N, w_dim)`` (StyleGAN 2019 sec. 2; label route as ganbench's)."""

    def __init__(self, z_dim: int, w_dim: int, num_classes: int = 0, num_layers: int = 4,
                 lr_mul: float = MAPPING_LR_MUL):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"the mapping network needs at least one layer, got {num_layers}")
        self.labels = LabelEmbedding(num_classes)
        dims = [z_dim + self.labels.dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(*(EqualLinear(a, b, lr_mul=lr_mul, activate=True)
                                      for a, b in itertools.pairwise(dims)))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.layers(normalize_2nd_moment(self.labels.concat(z, labels)))


class SynthesisNetwork(nn.Module):
    """``ws (N, num_ws, w_dim) -> images (N, C, H, W)`` in [-1, 1] (StyleGAN2, skip generator).

    ``forward(ws, noise_generator)``: random noise in training mode (``noise_generator`` None =>
    global RNG), the ``noise_const_<i>`` buffers in eval mode.
    """

    def __init__(self, w_dim: int, image_shape: tuple[int, int, int], width: int):
        super().__init__()
        channels, height, wide = image_shape
        self.image_shape = tuple(image_shape)
        self.w_dim = w_dim
        k, (h0, w0) = plan(height, wide)
        self.const = nn.Parameter(torch.randn(1, channels_at(0, k, width), h0, w0))
        self.convs = nn.ModuleList()
        self.torgbs = nn.ModuleList()
        self.convs_per_level: list[int] = []
        sizes: list[tuple[int, int]] = []
        for level in range(k + 1):
            c_out = channels_at(level, k, width)
            size = (h0 * 2 ** level, w0 * 2 ** level)
            if level == 0:
                self.convs.append(StyleLayer(c_out, c_out, w_dim, up=False))
            else:
                c_in = channels_at(level - 1, k, width)
                self.convs.append(StyleLayer(c_in, c_out, w_dim, up=True))
                self.convs.append(StyleLayer(c_out, c_out, w_dim, up=False))
            n_convs = 1 if level == 0 else 2
            self.convs_per_level.append(n_convs)
            sizes += [size] * n_convs
            self.torgbs.append(ToRGB(c_out, channels, w_dim))
        for i, size in enumerate(sizes):
            self.register_buffer(f"noise_const_{i}", torch.randn(1, 1, *size))
        self.num_ws = len(self.convs) + 1

    def noise(self, index: int, batch: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise of conv ``index``: const ``(1, 1, h, w)`` in eval, random ``(N, 1, h, w)``."""
        const = getattr(self, f"noise_const_{index}")
        if not self.training:
            return const
        return torch.randn((batch, 1, *const.shape[2:]), generator=generator,
                           device=const.device, dtype=const.dtype)

    def forward(self, ws: torch.Tensor,
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        n = ws.shape[0]
        x = self.const.expand(n, -1, -1, -1)
        rgb = None
        index = 0
        for n_convs, torgb in zip(self.convs_per_level, self.torgbs):
            for _ in range(n_convs):
                x = self.convs[index](x, ws[:, index], self.noise(index, n, noise_generator))
                index += 1
            y = torgb(x, ws[:, index])  # shared with the next level's first conv
            rgb = y if rgb is None else upsample2x(rgb) + y
        _, height, wide = self.image_shape
        top, left = (rgb.shape[2] - height) // 2, (rgb.shape[3] - wide) // 2
        return torch.tanh(rgb[:, :, top:top + height, left:left + wide])


class StyleGANGenerator(nn.Module):
    """``(z (N, z_dim), labels | None) -> (N, C, H, W)`` in [-1, 1]: a small StyleGAN2.

    ``w_dim`` defaults to ``max(z_dim, 2 * width)``. Attributes: ``mapping``, ``synthesis``,
    ``num_ws``, the ``w_avg`` buffer, and two plain (unsaved) attributes: ``truncation_psi``
    (1.0 = off; used in eval mode only) and ``noise_generator`` (RNG of the training noise).
    """

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int,
                 num_classes: int = 0, w_dim: int | None = None, mapping_layers: int = 4,
                 mapping_lr_mul: float = MAPPING_LR_MUL):
        super().__init__()
        self.z_dim, self.image_shape = z_dim, tuple(int(s) for s in image_shape)
        self.w_dim = int(w_dim) if w_dim is not None else max(z_dim, 2 * width)
        self.mapping = MappingNetwork(z_dim, self.w_dim, num_classes, mapping_layers,
                                      mapping_lr_mul)
        self.synthesis = SynthesisNetwork(self.w_dim, self.image_shape, width)
        self.num_ws = self.synthesis.num_ws
        self.register_buffer("w_avg", torch.zeros(self.w_dim))
        self.truncation_psi: float = 1.0
        self.noise_generator: torch.Generator | None = None

    def map(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``w (N, w_dim)`` of ``z``: no truncation, no ``w_avg`` update."""
        return self.mapping(z, labels)

    @torch.no_grad()
    def track_w_avg(self, w: torch.Tensor) -> None:
        """One update of the running mean of w (decay ``W_AVG_BETA``): what training forwards
        do, for callers that build the styles themselves (``map`` + ``synthesize``)."""
        self.w_avg.lerp_(w.detach().float().mean(dim=0).to(self.w_avg.dtype), 1.0 - W_AVG_BETA)

    def truncate(self, w: torch.Tensor, psi: float | None = None) -> torch.Tensor:
        """``w_avg + psi (w - w_avg)`` (StyleGAN 2019, appendix B); ``psi`` defaults to
        ``truncation_psi``. Works on ``(..., w_dim)``; ``psi == 1`` returns ``w`` itself."""
        psi = self.truncation_psi if psi is None else float(psi)
        if psi == 1.0:
            return w
        return self.w_avg.to(w.dtype).lerp(w, psi)

    def synthesize(self, ws: torch.Tensor) -> torch.Tensor:
        """Images of the styles ``ws (N, num_ws, w_dim)`` (no truncation applied here)."""
        return self.synthesis(ws, self.noise_generator)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, *,
                mix_z: torch.Tensor | None = None,
                mix_cutoff: int | None = None) -> torch.Tensor:
        """Images of ``z``. With ``mix_z`` and ``mix_cutoff`` (style mixing regularisation,
        StyleGAN 2019 sec. 3.1) ``ws[:, mix_cutoff:]`` come from ``mix_z`` (same labels);
        ``1 <= mix_cutoff < num_ws``. Training forwards update ``w_avg`` (from ``z`` only)."""
        if (mix_z is None) != (mix_cutoff is None):
            raise ValueError("style mixing needs both mix_z and mix_cutoff")
        w = self.map(z, labels)
        if self.training:
            self.track_w_avg(w)
        else:
            w = self.truncate(w)
        if mix_z is None:
            return self.synthesize(w.unsqueeze(1).expand(-1, self.num_ws, -1))
        valid = isinstance(mix_cutoff, int) and not isinstance(mix_cutoff, bool)
        if not (valid and 1 <= mix_cutoff < self.num_ws):
            raise ValueError(f"mix_cutoff must be an int in [1, {self.num_ws}), "
                             f"got {mix_cutoff!r}")
        if mix_z.shape != z.shape:
            raise ValueError(f"mix_z must have z's shape {tuple(z.shape)}, "
                             f"got {tuple(mix_z.shape)}")
        w_mix = self.map(mix_z, labels)
        if not self.training:
            w_mix = self.truncate(w_mix)
        ws = torch.cat([w.unsqueeze(1).expand(-1, mix_cutoff, -1),
                        w_mix.unsqueeze(1).expand(-1, self.num_ws - mix_cutoff, -1)], dim=1)
        return self.synthesize(ws)


class StyleMixingImages(NamedTuple):
    """Result of :func:`style_mixing_images` (``ch, H, W`` = the generator's image shape).

    - ``grid (R, C, ch, H, W)``: entry ``(r, c)`` has the coarse styles ``ws[:, :cutoff]`` of row
      source ``r`` and the fine styles ``ws[:, cutoff:]`` of column source ``c``.
    - ``rows (R, ch, H, W)``: the row sources' own images (all styles from ``z_rows[r]``).
    - ``cols (C, ch, H, W)``: the column sources' own images.
    """

    grid: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor


@torch.no_grad()
def style_mixing_images(generator: StyleGANGenerator, z_rows: torch.Tensor,
                        z_cols: torch.Tensor, cutoff: int | None = None,
                        labels_rows: torch.Tensor | None = None,
                        labels_cols: torch.Tensor | None = None) -> StyleMixingImages:
    """The style-mixing figure of StyleGAN (2019, fig. 3) as tensors (see StyleMixingImages).

    ``cutoff`` defaults to :func:`mixing_cutoff`; ``0 <= cutoff <= num_ws`` (``num_ws``: the
    grid repeats the rows, 0: the columns). Runs in eval mode (const noise, the generator's
    current ``truncation_psi``) under no_grad and restores the generator's mode.
    """
    num_ws = generator.num_ws
    cutoff = mixing_cutoff(num_ws) if cutoff is None else cutoff
    if not 0 <= cutoff <= num_ws:
        raise ValueError(f"cutoff must be in [0, {num_ws}], got {cutoff}")
    was_training = generator.training
    generator.eval()
    try:
        w_rows = generator.truncate(generator.map(z_rows, labels_rows))
        w_cols = generator.truncate(generator.map(z_cols, labels_cols))
        n_rows, n_cols, w_dim = w_rows.shape[0], w_cols.shape[0], w_rows.shape[1]
        rows = generator.synthesize(w_rows.unsqueeze(1).expand(-1, num_ws, -1))
        cols = generator.synthesize(w_cols.unsqueeze(1).expand(-1, num_ws, -1))
        coarse = w_rows[:, None, None, :].expand(n_rows, n_cols, cutoff, w_dim)
        fine = w_cols[None, :, None, :].expand(n_rows, n_cols, num_ws - cutoff, w_dim)
        ws = torch.cat([coarse, fine], dim=2).reshape(n_rows * n_cols, num_ws, w_dim)
        grid = generator.synthesize(ws).reshape(n_rows, n_cols, *rows.shape[1:])
    finally:
        generator.train(was_training)
    return StyleMixingImages(grid, rows, cols)
