"""Training steps of the image-to-image translators; ``ganbench.training.train_variant`` runs
them in the same loop as the generators (batches, logging, checkpoints, divergence).

- ``Pix2PixTrainer`` (Isola et al. 2017): D on (source, target) against (source, G(source)),
  its loss halved as in the paper's code; G on the adversarial loss plus ``lambda_l1`` times
  the L1 distance to the target (images in [-1, 1]).
- ``L1Trainer``: the same generator on the L1 distance alone: the non-adversarial baseline
  that shows what the adversarial loss adds (``loss: l1``).
- ``CycleGANTrainer`` (Zhu et al. 2017): G_AB and G_BA updated together on both adversarial
  losses, ``lambda_cycle`` times the cycle losses ||G_BA(G_AB(a)) - a||_1 +
  ||G_AB(G_BA(b)) - b||_1 and ``lambda_identity * lambda_cycle`` times the identity losses;
  then D_A and D_B, each on a real batch and a batch drawn from its ``ImagePool`` of past
  fakes (Shrivastava et al. 2017). Their losses are summed, not halved as in the authors'
  code: Adam is invariant to that scale (up to its epsilon), and the logged ``loss_d`` is
  twice the halved value, so compare it between CycleGAN runs, not with pix2pix's.

A batch is ``(source, target)`` in [-1, 1]: for a paired task the rows match; for an unpaired
one the source rows follow the epoch's permutation of domain A and the target rows are drawn
uniformly from domain B with the trainer's seeded generator. Logged columns (``LOG_COLUMNS``
of ``ganbench.training``): ``loss_d``, ``loss_g``, ``d_real``/``d_fake`` (D on real targets
and on translations: probabilities for the cross-entropy losses, raw outputs otherwise; for
CycleGAN D_B, on the pooled fakes it is trained on), the gradient norms, and ``recon``: the L1 term (pix2pix, L1) or the cycle
term (CycleGAN) as optimised, on [-1, 1] pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench import losses
from ganbench.device import autocast
from ganbench.images import uint8_to_signed
from ganbench.training import grad_norm, make_optimizer


class ImagePool(nn.Module):
    """A buffer of up to ``size`` past translations (Shrivastava et al. 2017, as CycleGAN):
    while it fills, each new image is stored and returned; once full, each new image is
    returned with probability 1/2, else swapped for a random stored one, which is returned.
    Its state is buffers, so it is checkpointed and resumed with the weights."""

    def __init__(self, size: int, image_shape: tuple[int, int, int]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *image_shape))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, batch: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = batch.clone()
        filled = int(self.filled)
        coins = torch.rand(len(batch), generator=rng, device=batch.device).tolist()
        picks = torch.randint(self.size, (len(batch),), generator=rng,
                              device=batch.device).tolist()
        for i in range(len(batch)):
            if filled < self.size:
                self.images[filled] = batch[i]
                filled += 1
            elif coins[i] < 0.5:
                out[i] = self.images[picks[i]]
                self.images[picks[i]] = batch[i]
        self.filled.fill_(filled)
        return out


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (the L1 loss of pix2pix and CycleGAN, per pixel)."""
    return (a - b).abs().mean()


class _Translator:
    """What every translation trainer shares with the generators' trainers (the interface
    ``train_variant`` drives)."""

    ema = None
    step_index = 0

    def __init__(self, cfg, models, device: torch.device, generator: torch.Generator):
        self.cfg, self.models, self.device, self.rng = cfg, models, device, generator
        self.objective = cfg.objective
        self.G, self.D = models.generator, models.discriminator

    def set_progress(self, step: int, steps_per_epoch: int) -> None:
        """Translators do not grow."""

    def batch(self, sources: torch.Tensor, targets: torch.Tensor, idx: torch.Tensor,
              layout: torch.memory_format) -> tuple[torch.Tensor, torch.Tensor]:
        """``(source, target)`` rows in [-1, 1]: ``idx`` of both for a paired task; for an
        unpaired one ``idx`` of the sources and uniform draws of the targets."""
        if self.paired:
            pick = idx
        else:
            pick = torch.randint(len(targets), (len(idx),), generator=self.rng,
                                 device=targets.device)
        return (uint8_to_signed(sources[idx]).contiguous(memory_format=layout),
                uint8_to_signed(targets[pick]).contiguous(memory_format=layout))

    def modules(self) -> dict[str, nn.Module]:
        out = {"generator": self.G}
        if self.D is not None:
            out["discriminator"] = self.D
        return out

    def sampler(self) -> nn.Module:
        return self.G


class L1Trainer(_Translator):
    """The generator on ``||G(source) - target||_1`` alone."""

    columns = ("loss_g", "grad_norm_g", "recon")
    paired = True

    def __init__(self, cfg, models, device, generator):
        super().__init__(cfg, models, device, generator)
        self.opt_g = make_optimizer(cfg, self.G.parameters(), cfg.lr_g)

    def step(self, batches) -> tuple[torch.Tensor, torch.Tensor]:
        self.G.train()
        source, target = batches[0]
        with autocast(self.device):
            loss = l1(self.G(source).float(), target)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        norm = grad_norm(self.G)
        self.opt_g.step()
        loss = loss.detach()
        return torch.stack([loss, norm.float(), loss]), loss

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g}


class Pix2PixTrainer(_Translator):
    """pix2pix: a conditional PatchGAN and ``adversarial + lambda_l1 * L1`` for G."""

    columns = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "recon")
    paired = True

    def __init__(self, cfg, models, device, generator):
        super().__init__(cfg, models, device, generator)
        self.opt_g = make_optimizer(cfg, self.G.parameters(), cfg.lr_g)
        self.opt_d = make_optimizer(cfg, self.D.parameters(), cfg.lr_d)

    def step(self, batches) -> tuple[torch.Tensor, torch.Tensor]:
        self.G.train()
        self.D.train()
        source, target = batches[0]
        with autocast(self.device):
            fake = self.G(source)
            real_logits = self.D(torch.cat([source, target], dim=1)).float()
            fake_logits = self.D(torch.cat([source, fake.detach().to(source.dtype)],
                                           dim=1)).float()
            loss_d = 0.5 * losses.discriminator_loss(self.objective, real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        norm_d = grad_norm(self.D)
        self.opt_d.step()

        self.D.requires_grad_(False)  # G's step needs D's input gradients only
        with autocast(self.device):
            adversarial = losses.generator_loss(
                self.objective, self.D(torch.cat([source, fake], dim=1)).float())
            distance = l1(fake.float(), target)
            loss_g = adversarial + self.cfg.lambda_l1 * distance
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.D.requires_grad_(True)
        norm_g = grad_norm(self.G)
        self.opt_g.step()
        values = [loss_d.detach(), loss_g.detach(),
                  losses.discriminator_outputs(self.objective, real_logits.detach()),
                  losses.discriminator_outputs(self.objective, fake_logits.detach()),
                  norm_d, norm_g, distance.detach()]
        return torch.stack([v.float() for v in values]), loss_d.detach() + loss_g.detach()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}


class CycleGANTrainer(_Translator):
    """CycleGAN: two translators, two PatchGANs, cycle and identity losses, image pools."""

    columns = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "recon")
    paired = False

    def __init__(self, cfg, models, device, generator, image_shape):
        super().__init__(cfg, models, device, generator)
        self.opt_g = make_optimizer(cfg, self.G.parameters(), cfg.lr_g)
        self.opt_d = make_optimizer(cfg, self.D.parameters(), cfg.lr_d)
        self.pools = {name: ImagePool(cfg.pool_size, image_shape).to(device)
                      for name in ("a", "b")}

    def step(self, batches) -> tuple[torch.Tensor, torch.Tensor]:
        self.G.train()
        self.D.train()
        real_a, real_b = batches[0]
        cfg, objective = self.cfg, self.objective
        self.D.requires_grad_(False)
        with autocast(self.device):
            fake_b, fake_a = self.G.ab(real_a), self.G.ba(real_b)
            adversarial = (losses.generator_loss(objective, self.D.b(fake_b).float())
                           + losses.generator_loss(objective, self.D.a(fake_a).float()))
            cycle = (l1(self.G.ba(fake_b).float(), real_a)
                     + l1(self.G.ab(fake_a).float(), real_b))
            loss_g = adversarial + cfg.lambda_cycle * cycle
            if cfg.lambda_identity > 0:
                identity = (l1(self.G.ab(real_b).float(), real_b)
                            + l1(self.G.ba(real_a).float(), real_a))
                loss_g = loss_g + cfg.lambda_identity * cfg.lambda_cycle * identity
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.D.requires_grad_(True)
        norm_g = grad_norm(self.G)
        self.opt_g.step()

        pooled_b = self.pools["b"].query(fake_b.detach().float(), self.rng)
        pooled_a = self.pools["a"].query(fake_a.detach().float(), self.rng)
        with autocast(self.device):
            real_logits_b = self.D.b(real_b).float()
            fake_logits_b = self.D.b(pooled_b.to(real_b.dtype)).float()
            loss_d = (losses.discriminator_loss(objective, real_logits_b, fake_logits_b)
                      + losses.discriminator_loss(objective, self.D.a(real_a).float(),
                                                  self.D.a(pooled_a.to(real_a.dtype)).float()))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        norm_d = grad_norm(self.D)
        self.opt_d.step()
        values = [loss_d.detach(), loss_g.detach(),
                  losses.discriminator_outputs(objective, real_logits_b.detach()),
                  losses.discriminator_outputs(objective, fake_logits_b.detach()),
                  norm_d, norm_g, cycle.detach()]
        return torch.stack([v.float() for v in values]), loss_d.detach() + loss_g.detach()

    def modules(self) -> dict[str, nn.Module]:
        return {**super().modules(), "pool_a": self.pools["a"], "pool_b": self.pools["b"]}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}


def make_translation_trainer(cfg, models, device, generator, image_shape):
    """The trainer of a translation variant: L1 alone, pix2pix, or CycleGAN."""
    from ganbench.config import TASKS

    if not TASKS[cfg.task].paired:
        return CycleGANTrainer(cfg, models, device, generator, image_shape)
    if cfg.objective == "l1":
        return L1Trainer(cfg, models, device, generator)
    return Pix2PixTrainer(cfg, models, device, generator)


__all__ = ["ImagePool", "L1Trainer", "Pix2PixTrainer", "CycleGANTrainer",
           "make_translation_trainer", "l1"]
