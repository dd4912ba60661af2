"""Model families: one module each; ``build_models`` turns a variant's params into networks.

Shared interface:

- ``generator(z (N, z_dim), labels (N,) int64 | None) -> images (N, C, H, W)`` in [-1, 1];
  conditional generators require labels.
- ``discriminator(x, labels=None, return_features=False) -> logits (N,)`` (raw, before any
  sigmoid), or ``(logits, features)`` with the per-sample penultimate features (before the
  minibatch-discrimination layer) for feature matching.
- the vae has no discriminator; its decoder is the generator.
- progan: G and D grow from the smallest resolution (``set_stage(level, alpha)`` on both;
  ``GanModels.set_stage``), G always returns full-size images.
- stylegan: the StyleGAN2 generator with the progan discriminator, fully grown.
- translators (``task`` other than ``generate``; ``models/translation.py``):
  ``generator(source) -> translated`` (U-Net or ResNet), a PatchGAN discriminator returning
  a map of patch logits (none for ``loss: l1``); CycleGAN's pair of each.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ganbench.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganbench.models.mlp import MLPDiscriminator, MLPGenerator
from ganbench.models.vae import VAE

__all__ = ["GanModels", "build_models", "count_parameters", "has_batchnorm"]


@dataclass
class GanModels:
    """The networks of one variant. ``vae`` is set (and ``discriminator`` None) for arch vae."""

    generator: nn.Module
    discriminator: nn.Module | None = None
    vae: nn.Module | None = None

    def to(self, *args, **kwargs) -> "GanModels":
        """``nn.Module.to`` on every network (a device, a dtype or a memory format)."""
        for module in (self.vae or self.generator, self.discriminator):
            if module is not None:
                module.to(*args, **kwargs)
        return self

    def set_stage(self, level: int, alpha: float) -> None:
        """Progressive growing: the resolution level and fade-in of G and D (progan only)."""
        for module in (self.generator, self.discriminator):
            module.set_stage(level, alpha)

    def trainable(self) -> dict[str, nn.Module]:
        """The modules that own optimisers and checkpoint entries."""
        if self.vae is not None:
            return {"vae": self.vae}
        return {"generator": self.generator, "discriminator": self.discriminator}


def build_models(cfg, image_shape: tuple[int, int, int], num_classes: int) -> GanModels:
    """Networks for ``cfg`` (a ``VariantParams``) on data of ``image_shape = (C, H, W)``.

    Weights are initialised from the global torch RNG: seed it first
    (``ganbench.seeding.seed_everything``). ``num_classes`` matters only when conditional.
    """
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {image_shape}")
    if getattr(cfg, "is_translation", False):
        from ganbench.config import TASKS
        from ganbench.models.translation import build_translators

        return build_translators(cfg, image_shape, paired=bool(TASKS[cfg.task].paired))
    classes = int(num_classes) if cfg.conditional else 0
    if cfg.conditional and classes < 1:
        raise ValueError("a conditional variant needs num_classes >= 1")
    if cfg.arch == "mlp":
        return GanModels(
            MLPGenerator(cfg.z_dim, image_shape, cfg.width, classes),
            MLPDiscriminator(image_shape, cfg.width, classes, cfg.minibatch_discrimination))
    if cfg.arch == "dcgan":
        norm = cfg.normalization_d or ("layer" if cfg.gradient_penalty > 0 else "batch")
        return GanModels(
            DCGANGenerator(cfg.z_dim, image_shape, cfg.width, classes,
                           cfg.normalization_g or "batch"),
            DCGANDiscriminator(image_shape, cfg.width, classes, norm,
                               cfg.minibatch_discrimination,
                               int(num_classes) if cfg.semi_supervised else 0))
    if cfg.arch in ("progan", "stylegan"):
        from ganbench.models.progan import ProGANDiscriminator, ProGANGenerator

        spectral = cfg.normalization_d == "spectral"
        if cfg.arch == "progan":
            return GanModels(ProGANGenerator(cfg.z_dim, image_shape, cfg.width, classes),
                             ProGANDiscriminator(image_shape, cfg.width, classes, spectral))
        from ganbench.models.stylegan import StyleGANGenerator

        return GanModels(StyleGANGenerator(cfg.z_dim, image_shape, cfg.width, classes),
                         ProGANDiscriminator(image_shape, cfg.width, classes, spectral))
    if cfg.arch == "vae":
        vae = VAE(cfg.z_dim, image_shape, cfg.width, classes)
        return GanModels(vae.decoder, None, vae)
    raise ValueError(f"unknown arch {cfg.arch!r}")


def count_parameters(module: nn.Module | None) -> int | None:
    return None if module is None else sum(p.numel() for p in module.parameters())


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
