"""The training loop of one variant: GANs (every loss and trick of the schema) and the VAE.

Read it top to bottom: ``GanTrainer.step`` / ``VaeTrainer.step`` are one optimisation step
each; ``train_variant`` owns the data, the batches, logging, checkpoints and divergence.

Definitions used in the log and in ``model.json``:

- **step**: one generator update (for a GAN it follows ``n_critic`` discriminator updates,
  each on its own real batch); for the VAE one update of encoder + decoder. ``step`` in the
  log counts completed steps (1-based).
- **epoch**: one pass over the train split by the real batches (``N // batch_size`` batches;
  the last incomplete batch is dropped), so a GAN makes ``(N // batch_size) // n_critic``
  generator steps per epoch (at least 1).
- **log rows**: one row every ``log_every`` steps (chosen so that a run writes at most
  ``MAX_LOG_ROWS`` rows), each value the mean over the steps since the previous row.
  Columns: ``LOG_COLUMNS``; cells that do not apply to the variant are empty. GANs fill
  ``loss_d``, ``loss_g``, ``d_real``, ``d_fake`` (mean D output on real / fake images:
  ``sigmoid(logit)``, a probability, for the cross-entropy losses minimax and nonsaturating;
  the raw output for least_squares, hinge and wasserstein), ``grad_norm_d`` / ``grad_norm_g``
  (global L2 norm of the gradients before the update; D's from its last update of the step)
  and, for the wasserstein loss only, ``wasserstein`` = ``mean D(x) - mean D(G(z))``, the
  critic's estimate of the Wasserstein-1 distance (before the gradient penalty). The VAE
  fills ``loss_g`` (the negative ELBO per image), ``recon`` and ``kl``.

No host synchronisation per step: the batches are drawn on the device from a seeded
``torch.Generator`` (no DataLoader), and logged scalars stay tensors until a *sync point*
every ``sync_every`` steps (a multiple of ``log_every``, at least ``MIN_SYNC_STEPS``), where
they are copied to the host in one go.

Divergence: at each sync point the per-step losses and a cheap checksum of the weights (the
sum of every parameter, non-finite iff some weight is) are checked. If all are finite, a
copy of the weights is kept as the *last good snapshot*; if not, training stops, the weights
are restored from that snapshot (so the saved weights are always finite), and the run ends
with ``status = "diverged"`` and ``diverged_step`` = the first step whose loss was not
finite (the sync step, when only the weights were). This costs one device copy of the
weights per sync point instead of a host sync per step.

Reproducibility: the same params on the CPU give bit-identical weights (seeded weights,
batches, noise and GP interpolation; deterministic algorithms). Checkpoints, saved at sync
points every ``checkpoint_seconds`` of wall-clock time and after each epoch, hold everything
that state depends on (weights, optimiser moments, EMA, RNG state, the epoch's permutation,
log rows), so a resumed run gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ganbench import distributed, losses
from ganbench.checkpoint import checkpoint_path, claim, load_checkpoint, prune_checkpoints, \
    remove_checkpoint, save_checkpoint
from ganbench.device import autocast, pick_device
from ganbench.images import uint8_to_signed
from ganbench.io import atomic_file, write_json
from ganbench.models import GanModels, build_models
from ganbench.seeding import seed_everything

LOG_COLUMNS = ("step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "wasserstein",
               "grad_norm_d", "grad_norm_g", "recon", "kl")
MAX_LOG_ROWS = 2000
MIN_SYNC_STEPS = 25
CHECKPOINT_SECONDS = 120.0
GENERATOR_FILE = "generator.pt"
GENERATOR_EMA_FILE = "generator_ema.pt"
DISCRIMINATOR_FILE = "discriminator.pt"
MODEL_FILE = "model.json"

OnLog = Callable[[dict, int], None]


@dataclass(frozen=True)
class TrainResult:
    """How a training run ended.

    ``steps``: generator steps run (for a diverged run, up to the diverged step);
    ``epochs``: completed passes of the saved weights; ``seconds``: wall-clock training time,
    summed over resumed attempts.
    """

    status: str  # "ok" | "diverged"
    diverged_step: int | None
    steps: int
    epochs: int
    seconds: float
    device: str


# --------------------------------------------------------------------------- helpers


def grad_norm(module: nn.Module) -> torch.Tensor:
    """Global L2 norm of ``module``'s gradients (a 0-d tensor; no host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def weights_checksum(modules: list[nn.Module]) -> torch.Tensor:
    """Sum of all parameters and buffers: non-finite iff some value is (0-d tensor)."""
    sums = [t.detach().float().sum() for m in modules
            for t in list(m.parameters()) + [b for b in m.buffers() if b.is_floating_point()]]
    return torch.stack(sums).sum()


def ema_decay(decay: float, step: int) -> float:
    """The EMA decay after the 0-based ``step``: ``min(decay, (1 + step) / (10 + step))``, the
    ramp-up of TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` (StyleGAN2 ramps its
    EMA up too, ``ema_rampup``). Without it the average of a short run still holds the random
    initialisation: at decay 0.999 after 1,250 steps, 29% of its weight (measured on the
    stylegan preset, seed 0: judge FID 538 from the EMA generator against 159 from the raw
    one)."""
    return min(decay, (1.0 + step) / (10.0 + step))


def make_optimizer(cfg, params, lr: float) -> torch.optim.Optimizer:
    """Adam(lr, betas) or RMSprop(lr) (the WGAN paper's choice) for one network; the
    multi-tensor (foreach) update, one kernel per step instead of one per parameter."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), foreach=True)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def _layout(batch: torch.Tensor) -> torch.memory_format:
    """The memory format of a 4-d batch (channels-last or contiguous)."""
    if batch.dim() == 4 and batch.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# --------------------------------------------------------------------------- trainers


class GanTrainer:
    """One GAN step: ``n_critic`` discriminator updates, then one generator update.

    ``batches`` is a list of ``n_critic`` ``(real images in [-1, 1], labels | None)``.
    Generator noise, the fake labels of G's update (uniform over classes), the WGAN-GP
    interpolation weights, StyleGAN's noise inputs and style mixing, and the labelled batches
    of the semi-supervised GAN come from ``generator`` (a ``torch.Generator`` on the device).

    Regularisers on top of the loss: gradient penalty (WGAN-GP), R1 (``r1_penalty``),
    historical averaging of D and G (``historical_averaging``). The semi-supervised GAN
    (``semi_supervised``) trains its K+1-class D on ``labeled`` (images, labels) as well.
    """

    labeled: tuple[torch.Tensor, torch.Tensor] | None = None  # set by train_variant
    step_index = 0  # the generator step being taken (``set_progress``): lazy R1
    first_critic_step = True  # lazy R1 applies at the first critic step of a generator step

    def __init__(self, cfg, models: GanModels, device: torch.device,
                 generator: torch.Generator, num_classes: int):
        self.cfg, self.models, self.device, self.rng = cfg, models, device, generator
        self.objective = cfg.objective
        self.num_classes = num_classes if cfg.conditional else 0
        self.G, self.D = models.generator, models.discriminator
        self.reused: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.opt_g = make_optimizer(cfg, self.G.parameters(), cfg.lr_g)
        self.opt_d = make_optimizer(cfg, self.D.parameters(), cfg.lr_d)
        self.ema = None
        if cfg.ema is not None:
            self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.history = None
        if cfg.historical_averaging > 0:
            self.history = {"generator": losses.HistoricalAverage(self.G).to(device),
                            "discriminator": losses.HistoricalAverage(self.D).to(device)}
        if hasattr(self.G, "noise_generator"):  # StyleGAN's noise inputs: seeded, resumable
            self.G.noise_generator = generator
        # forwards whose backward updates G or D go through these: DDP wrappers in a process
        # group (one each, PyTorch DDP docs), G and D themselves otherwise
        grows = cfg.arch in ("progan", "stylegan")  # progressive nets: inactive resolutions
        self.g_net = distributed.wrap(self.G, device, find_unused=grows)  # sit out forwards
        self.d_net = distributed.wrap(self.D, device, find_unused=grows)
        cols = ["loss_d", "loss_g", "d_real", "d_fake"]
        if self.objective == "wasserstein":
            cols.append("wasserstein")
        self.columns = tuple(cols + ["grad_norm_d", "grad_norm_g"])

    # -- pieces

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.G.z_dim, generator=self.rng, device=self.device)

    def fake_labels(self, n: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return torch.randint(self.num_classes, (n,), generator=self.rng, device=self.device)

    def fakes(self, n: int, labels: torch.Tensor | None) -> torch.Tensor:
        """``n`` generated images; StyleGAN mixes two codes' styles in a share
        ``style_mixing`` of them (Karras et al. 2019, section 3.1), at a random layer."""
        z = self.noise(n)
        if self.cfg.arch != "stylegan" or self.cfg.style_mixing == 0:
            return self.g_net(z, labels)
        ws = self.G.map(z, labels)
        if self.G.training:  # the truncation trick's centre, as G's own forward keeps it
            self.G.track_w_avg(ws)
        mixed = self.G.map(self.noise(n), labels)
        layers = self.G.num_ws
        cut = torch.randint(1, layers, (n,), generator=self.rng, device=self.device)
        keep = torch.rand(n, generator=self.rng, device=self.device) >= self.cfg.style_mixing
        cut = torch.where(keep, torch.full_like(cut, layers), cut)
        second = torch.arange(layers, device=self.device)[None, :] >= cut[:, None]
        styles = torch.where(second[:, :, None], mixed[:, None, :], ws[:, None, :])
        return self.G.synthesize(styles)

    def set_progress(self, step: int, steps_per_epoch: int) -> None:
        """The step about to be taken (0-based): lazy R1 and, for progressive growing, the
        resolution and fade-in of G and D."""
        self.step_index, self.first_critic_step = step, True
        if self.cfg.arch != "progan":
            return
        from ganbench.models.progan import progressive_stage

        level, alpha = progressive_stage(step, steps_per_epoch, self.cfg.stage_epochs,
                                         self.cfg.fade_epochs, self.G.num_levels)
        self.models.set_stage(level, alpha)
        if self.ema is not None:
            self.ema.set_stage(level, alpha)

    def regularised(self, loss: torch.Tensor, name: str, module: nn.Module) -> torch.Tensor:
        """``loss`` plus the historical-averaging penalty of ``module`` when it is on."""
        if self.history is None:
            return loss
        return loss + losses.historical_average_penalty(
            module.parameters(), self.history[name].averages(), self.cfg.historical_averaging)

    def discriminator_step(self, real: torch.Tensor, labels: torch.Tensor | None):
        """One D update; fakes use the real batch's labels (so WGAN-GP interpolates within
        a class). With ``reuse_fake`` the fakes keep G's graph for the generator step.
        Returns ``(loss_d, real_logits, fake_logits)`` (detached)."""
        cfg = self.cfg
        with torch.set_grad_enabled(cfg.reuse_fake), autocast(self.device):
            fake = self.fakes(real.shape[0], labels)
        self.reused = (fake, labels) if cfg.reuse_fake else None
        fake = fake.detach()
        with autocast(self.device):
            real_logits = self.d_net(real, labels)
            fake_logits = self.d_net(fake.to(real.dtype), labels)
            if cfg.semi_supervised:
                images, classes = self.labeled
                pick = torch.randint(len(classes), (real.shape[0],), generator=self.rng,
                                     device=self.device)
                loss = losses.semi_supervised_loss_dis(
                    self.D.classify(images[pick].contiguous(memory_format=_layout(real))),
                    classes[pick], real_logits.float(), fake_logits.float())
            else:
                loss = losses.discriminator_loss(self.objective, real_logits.float(),
                                                 fake_logits.float(), cfg.label_smoothing)
            if cfg.gradient_penalty > 0:
                loss = loss + losses.gradient_penalty(self.d_net, real, fake.float(), labels,
                                                      weight=cfg.gradient_penalty,
                                                      generator=self.rng)
            if cfg.r1_penalty > 0 and self.first_critic_step \
                    and self.step_index % cfg.r1_interval == 0:  # lazy: weighted by k
                loss = loss + cfg.r1_interval * losses.r1_penalty(self.d_net, real, labels,
                                                                  gamma=cfg.r1_penalty)
            self.first_critic_step = cfg.r1_interval == 1
            loss = self.regularised(loss, "discriminator", self.D)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        norm = grad_norm(self.D)
        self.opt_d.step()
        if self.history is not None:
            self.history["discriminator"].update(self.D)
        if cfg.weight_clip is not None:
            losses.clip_weights_(self.D, cfg.weight_clip)
        return loss.detach(), real_logits.detach().float(), fake_logits.detach().float(), norm

    def generator_step(self, real: torch.Tensor, labels: torch.Tensor | None):
        """One G update (adversarial loss, or feature matching against ``real``), on fresh
        fakes with uniform labels, or with ``reuse_fake`` on the last D step's fakes. D is
        called unwrapped: its weights are frozen here, so DDP has nothing of D's to average."""
        n = real.shape[0]
        self.D.requires_grad_(False)  # G's step needs D's input gradients, not its weights'
        with autocast(self.device):
            if self.reused is not None:
                (fake, y), self.reused = self.reused, None
            else:
                y = self.fake_labels(n)
                fake = self.fakes(n, y)
            if self.cfg.feature_matching:
                with torch.no_grad():
                    _, real_features = self.D(real, labels, return_features=True)
                _, fake_features = self.D(fake, y, return_features=True)
                loss = losses.feature_matching_loss(real_features, fake_features)
            else:
                loss = losses.generator_loss(self.objective, self.D(fake, y).float())
            loss = self.regularised(loss, "generator", self.G)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.D.requires_grad_(True)
        norm = grad_norm(self.G)
        self.opt_g.step()
        if self.history is not None:
            self.history["generator"].update(self.G)
        self.update_ema()
        return loss.detach(), norm

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema = d * ema + (1 - d) * G`` for parameters, ``d = ema_decay(cfg.ema, step)``;
        buffers (BN stats) copied."""
        if self.ema is None:
            return
        ema_params = list(self.ema.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in self.G.parameters()],
                             1.0 - ema_decay(self.cfg.ema, self.step_index))
        for b_ema, b in zip(self.ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def step(self, batches) -> tuple[torch.Tensor, torch.Tensor]:
        """One full step. Returns ``(metrics (len(columns),), loss for divergence (0-d))``."""
        self.G.train()
        self.D.train()
        for real, labels in batches:
            loss_d, real_logits, fake_logits, norm_d = self.discriminator_step(real, labels)
        loss_g, norm_g = self.generator_step(real, labels)
        values = [loss_d, loss_g, losses.discriminator_outputs(self.objective, real_logits),
                  losses.discriminator_outputs(self.objective, fake_logits)]
        if self.objective == "wasserstein":
            values.append(real_logits.mean() - fake_logits.mean())
        values += [norm_d, norm_g]
        return torch.stack([v.float() for v in values]), loss_d + loss_g

    # -- state

    def modules(self) -> dict[str, nn.Module]:
        out = {"generator": self.G, "discriminator": self.D}
        if self.ema is not None:
            out["generator_ema"] = self.ema
        for name, average in (self.history or {}).items():
            out[f"historical_{name}"] = average
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def sampler(self) -> nn.Module:
        return self.G


class VaeTrainer:
    """One VAE step on the negative ELBO (Bernoulli likelihood on logits ``2a``)."""

    columns = ("loss_g", "recon", "kl")
    step_index = 0  # the step being taken (``set_progress``): the EMA's ramp-up

    def __init__(self, cfg, models: GanModels, device: torch.device,
                 generator: torch.Generator, num_classes: int):
        self.cfg, self.models, self.device, self.rng = cfg, models, device, generator
        self.vae = models.vae
        self.G = models.generator
        self.opt = make_optimizer(cfg, self.vae.parameters(), cfg.lr_g)
        self.ema = None
        if cfg.ema is not None:
            self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.vae_net = distributed.wrap(self.vae, device)  # the vae itself in one process

    update_ema = GanTrainer.update_ema

    def set_progress(self, step: int, steps_per_epoch: int) -> None:
        """Nothing grows in a VAE; the step ramps its EMA up."""
        self.step_index = step

    def step(self, batches) -> tuple[torch.Tensor, torch.Tensor]:
        self.vae.train()
        real, labels = batches[0]
        with autocast(self.device):
            a, mu, logvar = self.vae_net(real, labels, generator=self.rng)
            loss, recon, kl = losses.elbo_loss(2.0 * a.float(), real, mu.float(),
                                               logvar.float())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.update_ema()
        return torch.stack([loss.detach(), recon.detach(), kl.detach()]), loss.detach()

    def modules(self) -> dict[str, nn.Module]:
        out = {"vae": self.vae}
        if self.ema is not None:
            out["generator_ema"] = self.ema
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.opt}


def make_trainer(cfg, models: GanModels, device, generator, num_classes,
                 image_shape: tuple[int, int, int] | None = None):
    """The trainer of ``cfg``: a translator's (``ganbench.translation_training``), the VAE's or
    a GAN's."""
    if cfg.is_translation:
        from ganbench.translation_training import make_translation_trainer

        return make_translation_trainer(cfg, models, device, generator, image_shape)
    cls = VaeTrainer if cfg.is_vae else GanTrainer
    return cls(cfg, models, device, generator, num_classes)


def trainer_state(trainer) -> dict:
    return {"modules": {k: m.state_dict() for k, m in trainer.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in trainer.optimizers().items()}}


def load_trainer_state(trainer, state: dict) -> None:
    for k, m in trainer.modules().items():
        m.load_state_dict(state["modules"][k])
    for k, o in trainer.optimizers().items():
        o.load_state_dict(state["optimizers"][k])


# --------------------------------------------------------------------------- progress


class Progress:
    """tqdm on a terminal; otherwise a plain stderr line about every 10% or 30 s."""

    def __init__(self, total: int, initial: int, name: str):
        self.total, self.name, self.bar = total, name, None
        self.last_print, self.next_fraction = time.monotonic(), 0.1
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, initial=initial, desc=name, unit="step",
                                dynamic_ncols=True)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self.bar = None

    def update(self, step: int, done: int, postfix: dict[str, float]) -> None:
        text = " ".join(f"{k}={v:.4g}" for k, v in postfix.items())
        if self.bar is not None:
            self.bar.update(done)
            self.bar.set_postfix_str(text, refresh=False)
            return
        now = time.monotonic()
        if step >= self.total or step >= self.next_fraction * self.total \
                or now - self.last_print > 30:
            print(f"{self.name}: step {step}/{self.total} {text}", file=sys.stderr, flush=True)
            self.last_print = now
            while self.next_fraction * self.total <= step:
                self.next_fraction += 0.1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- the loop


def log_interval(total_steps: int, max_rows: int = MAX_LOG_ROWS) -> int:
    """Steps per log row, so a run writes at most ``max_rows`` rows."""
    return max(1, math.ceil(total_steps / max_rows))


def format_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"


def write_log(path: Path, rows: list[list]) -> None:
    """TSV with ``LOG_COLUMNS``; ``None`` cells are empty."""
    with atomic_file(path) as handle:
        handle.write("\t".join(LOG_COLUMNS) + "\n")
        for row in rows:
            handle.write("\t".join(format_cell(v) for v in row) + "\n")


def model_info(variant: str, cfg, *, seed: int, status: str, diverged_step, image_shape,
               num_classes, steps: int, weights_step: int, epochs: int, device: str,
               fingerprint: str | None = None) -> dict:
    """The ``model.json`` object (what sampling and the report read). ``fingerprint``: the
    training fingerprint (params, seed and data), by which later stages find the MLflow run.
    No wall-clock time: a DVC output must be the same bytes on every run (timings go to
    MLflow)."""
    params = {**dataclasses.asdict(cfg), "loss": cfg.objective}
    return {"variant": variant, "task": cfg.task, "status": status,
            "diverged_step": diverged_step, "params": params, "arch": cfg.arch,
            "loss": cfg.objective,
            "conditional": cfg.conditional, "z_dim": cfg.z_dim, "num_classes": int(num_classes),
            "image_shape": [int(s) for s in image_shape], "steps": steps,
            "weights_step": weights_step, "epochs": epochs,
            "device": device, "seed": seed, "ema": cfg.ema is not None,
            "ema_decay": cfg.ema, "fingerprint": fingerprint}


def train_variant(variant: str, cfg, images_u8: np.ndarray, labels: np.ndarray,
                  num_classes: int, weights_dir: Path, log_path: Path, cache_dir: Path,
                  fingerprint: str, on_log: OnLog | None = None, *, seed: int = 0,
                  checkpoint_seconds: float = CHECKPOINT_SECONDS,
                  max_log_rows: int = MAX_LOG_ROWS, on_log_points: int | None = None,
                  progress: bool = True, targets_u8: np.ndarray | None = None) -> TrainResult:
    """Train ``variant`` (a ``VariantParams``) with training seed ``seed`` on uint8
    N x C x H x W images; write the weights.

    A translation variant (``cfg.task``) trains on ``images_u8`` as its source domain and
    ``targets_u8`` as its target domain: row by row the targets of the sources for a paired
    task, an unaligned set for an unpaired one (``ganbench.data.tasks``); an epoch is a pass
    over the sources, and ``labels`` are not used.

    Writes ``weights_dir/{generator.pt, generator_ema.pt (when cfg.ema), model.json}`` and the
    TSV log at ``log_path``; calls ``on_log(metrics, step)`` for every log row (the same
    numbers, empty cells left out), or with ``on_log_points`` for about that many rows
    evenly spread (every k-th row and the last: a tracker needs no 2,000 points for a curve,
    and MLflow's SQLite store takes about 0.3 s per 1,000 values). Resumes from
    ``cache_dir/<variant>-seed<seed>/<fingerprint>/checkpoint.pt`` when one exists (a checkpoint that
    cannot be used is named on stderr, with the reason) and deletes it after the run;
    checkpoints that can no longer resume are pruned first (``checkpoint.prune_checkpoints``).

    ``cfg.devices`` N > 1: N processes train together with DistributedDataParallel
    (``ganbench.distributed``): this one is rank 0 (it spawns the others unless a process group
    is already initialised), each rank reads its slice of every global batch and draws its
    noise from ``distributed.noise_seed(seed, rank)``; rank 0 alone writes the outputs and checkpoints and calls
    ``on_log`` (log rows are means over the ranks), and every rank checks at the end that its
    weights equal rank 0's.
    """
    weights_dir, log_path = Path(weights_dir), Path(log_path)
    images_u8 = np.asarray(images_u8)
    if images_u8.dtype != np.uint8 or images_u8.ndim != 4:
        raise ValueError(f"images must be uint8 N x C x H x W, got {images_u8.dtype} "
                         f"{images_u8.shape}")
    n = images_u8.shape[0]
    if n < 2:
        raise ValueError("training needs at least 2 images")
    image_shape = tuple(int(s) for s in images_u8.shape[1:])
    if cfg.devices > 1 and not distributed.is_distributed():  # spawn ranks 1..N-1, be rank 0
        args = (variant, cfg, images_u8, labels, num_classes, weights_dir, log_path, cache_dir,
                fingerprint)
        common = dict(seed=seed, checkpoint_seconds=checkpoint_seconds,
                      max_log_rows=max_log_rows, targets_u8=targets_u8)
        with distributed.launch(cfg.devices, cfg.device, train_variant, *args, **common,
                                progress=False):
            return train_variant(*args, on_log, **common, on_log_points=on_log_points,
                                 progress=progress)
    rank, world = distributed.check_world(cfg.devices)
    on_log = on_log if rank == 0 else None
    device = distributed.rank_device(pick_device(cfg.device))

    seed_everything(seed)
    layout = (torch.channels_last if cfg.channels_last and cfg.arch != "mlp"
              else torch.contiguous_format)
    models = build_models(cfg, image_shape, num_classes).to(device, memory_format=layout)
    rng = torch.Generator(device=device).manual_seed(distributed.noise_seed(seed, rank))
    trainer = make_trainer(cfg, models, device, rng, num_classes, image_shape)

    data = torch.as_tensor(images_u8).to(device)
    if cfg.is_translation != (targets_u8 is not None):
        raise ValueError("a translation variant needs targets_u8, and only it")
    targets = None if targets_u8 is None else torch.as_tensor(np.asarray(targets_u8)).to(device)
    data_labels = torch.as_tensor(np.asarray(labels, dtype=np.int64)).to(device)
    if cfg.semi_supervised:  # the only labels it sees (the same subset at evaluation)
        from ganbench.semi_supervised import labeled_subset

        keep = torch.as_tensor(labeled_subset(labels, num_classes, cfg.labeled_per_class, seed))
        trainer.labeled = (uint8_to_signed(data[keep.to(device)]), data_labels[keep.to(device)])
    conditional = cfg.conditional
    batch = min(cfg.batch_size, n)
    local = batch // world  # each rank's share of the global batch
    if local < 1:
        raise ValueError(f"{n} images cannot be split between {world} processes")
    batch = local * world
    batches_per_epoch = n // batch
    per_step = 1 if cfg.is_vae else cfg.n_critic
    steps_per_epoch = max(1, batches_per_epoch // per_step)
    total = cfg.epochs * steps_per_epoch
    log_every = log_interval(total, max_log_rows)
    stride = max(1, math.ceil(math.ceil(total / log_every) / on_log_points)) \
        if on_log_points else 1
    sync_every = log_every * math.ceil(MIN_SYNC_STEPS / log_every)
    columns = trainer.columns
    col_index = [LOG_COLUMNS.index(c) for c in columns]

    run_key = f"{variant}-seed{seed}"
    ckpt = checkpoint_path(cache_dir, run_key, fingerprint)
    state = None
    if rank == 0:  # rank 0 owns the checkpoint; the other ranks resume from its copy
        prune_checkpoints(cache_dir, run_key, keep=fingerprint)
        state, ignored = load_checkpoint(ckpt, fingerprint)
        if ignored is not None:
            print(f"{run_key}: ignoring checkpoint {ckpt}: it {ignored}; training starts from "
                  "step 0", file=sys.stderr, flush=True)
        claim(ckpt)
    state = distributed.broadcast_object(state)
    if state is not None:
        load_trainer_state(trainer, state["trainer"])
        rng.set_state(state.get("rngs", [state["rng"]])[rank])  # every rank's noise stream
        step, perm = state["step"], state["perm"].to(device)
        rows, seconds_before = state["rows"], state["seconds"]
        if rank == 0:
            print(f"{run_key}: resuming from the checkpoint at step {step} of {total}",
                  file=sys.stderr, flush=True)
        if on_log is not None:  # replay the restored rows into the new run's tracker
            for index, row in enumerate(rows):
                if index % stride == 0:
                    on_log({c: row[i] for c, i in zip(columns, col_index)}, row[0])
    else:
        step, perm, rows, seconds_before = 0, None, [], 0.0

    def snapshot() -> dict:
        return {k: _state_copy(m) for k, m in trainer.modules().items()}

    good = snapshot()
    good_step = step
    status, diverged_step = "ok", None
    pending_rows: list[tuple[int, int, torch.Tensor]] = []  # (step, epoch, mean values)
    pending_losses: list[torch.Tensor] = []
    acc, acc_n = None, 0
    start = time.monotonic()
    last_save = start
    last_saved_epoch = step // steps_per_epoch
    bar = Progress(total, step, run_key) if progress and rank == 0 else None

    try:
        while step < total:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            if in_epoch == 0:  # a resumed run restores the epoch's permutation instead
                perm = (torch.randperm(n, generator=rng, device=device) if world == 1 else
                        distributed.epoch_permutation(n, seed, epoch, device))
            batches = []
            for j in range(per_step):
                k = (in_epoch * per_step + j) % batches_per_epoch
                idx = distributed.rank_slice(perm)[k * local:(k + 1) * local]
                if targets is not None:
                    batches.append(trainer.batch(data, targets, idx, layout))
                    continue
                real = uint8_to_signed(data[idx]).contiguous(memory_format=layout)
                batches.append((real, data_labels[idx] if conditional else None))
            trainer.set_progress(step, steps_per_epoch)
            values, loss = trainer.step(batches)
            distributed.sync_buffers(trainer.modules().values())  # BatchNorm statistics
            step += 1
            pending_losses.append(loss)
            acc = values if acc is None else acc + values
            acc_n += 1
            if step % log_every == 0 or step == total:
                pending_rows.append((step, epoch, acc / acc_n))
                acc, acc_n = None, 0
            if step % sync_every != 0 and step != total:
                continue

            # ---- sync point: one host copy of everything logged since the last one
            step_losses = torch.stack(pending_losses).float()
            row_values = torch.stack([r[2] for r in pending_rows]) if pending_rows \
                else step_losses[:0]
            # means over the ranks, so that every rank takes the same decisions below
            step_losses, row_values = distributed.mean_over_ranks(step_losses, row_values)
            checks = torch.stack([step_losses.isfinite().all(),
                                  weights_checksum(list(trainer.modules().values()))
                                  .isfinite()]).cpu()
            first_bad = None
            if not bool(checks[0]):
                finite = step_losses.isfinite().cpu().tolist()
                first_bad = step - len(finite) + 1 + finite.index(False)
            elif not bool(checks[1]):
                first_bad = step
            host_rows = row_values.cpu().tolist()
            postfix = {}
            for (row_step, row_epoch, _), vals in zip(pending_rows, host_rows):
                if first_bad is not None and row_step - log_every >= first_bad:
                    break  # rows entirely after the divergence are not written
                row: list = [row_step, row_epoch] + [None] * (len(LOG_COLUMNS) - 2)
                for i, v in zip(col_index, vals):
                    row[i] = float(v)
                rows.append(row)
                postfix = {c: float(v) for c, v in zip(columns, vals)}
                if on_log is not None and ((len(rows) - 1) % stride == 0 or row_step == total):
                    on_log(dict(postfix), row_step)
            pending_rows, pending_losses = [], []
            if bar is not None:
                bar.update(step, step - good_step,
                           {k: v for k, v in postfix.items() if k in ("loss_d", "loss_g")})
            if first_bad is not None:
                status, diverged_step = "diverged", int(first_bad)
                for k, m in trainer.modules().items():
                    m.load_state_dict(good[k])
                break
            good, good_step = snapshot(), step
            now = time.monotonic()
            epoch_done = step // steps_per_epoch
            if step < total and distributed.rank0_decides(
                    now - last_save >= checkpoint_seconds or epoch_done > last_saved_epoch,
                    device):
                rngs = distributed.gather_objects(rng.get_state())
                if rank == 0:
                    save_checkpoint(ckpt, {
                        "fingerprint": fingerprint, "step": step, "perm": perm.cpu(),
                        "rng": rng.get_state(), "trainer": trainer_state(trainer),
                        "rows": rows, "seconds": seconds_before + now - start,
                        **({"rngs": rngs} if world > 1 else {})})
                last_save, last_saved_epoch = now, epoch_done
    finally:
        if bar is not None:
            bar.close()

    seconds = seconds_before + time.monotonic() - start
    steps = step if diverged_step is None else diverged_step
    epochs_done = good_step // steps_per_epoch
    differ = distributed.replica_mismatches(trainer_state(trainer), device)
    if differ:
        raise RuntimeError(f"{run_key}: after training the ranks' weights differ from rank 0's "
                           f"({', '.join(differ[:3])}, ...): DistributedDataParallel lost sync")
    if rank == 0:
        write_outputs(weights_dir, trainer)
        write_json(weights_dir / MODEL_FILE, model_info(
            variant, cfg, seed=seed, status=status, diverged_step=diverged_step,
            image_shape=image_shape, num_classes=num_classes, steps=steps,
            weights_step=good_step, epochs=epochs_done, device=str(device),
            fingerprint=fingerprint))
        write_log(log_path, rows)
        remove_checkpoint(ckpt)
    return TrainResult(status, diverged_step, steps, epochs_done, round(seconds, 3), str(device))


def write_outputs(weights_dir: Path, trainer) -> None:
    """``generator.pt`` (G's state dict, CPU tensors) and ``generator_ema.pt`` when EMA is on."""
    weights_dir.mkdir(parents=True, exist_ok=True)

    def save(module: nn.Module, name: str) -> None:
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        with atomic_file(weights_dir / name, "wb") as handle:
            torch.save(state, handle)

    save(trainer.G, GENERATOR_FILE)
    if trainer.ema is not None:
        save(trainer.ema, GENERATOR_EMA_FILE)
    if getattr(trainer, "labeled", None) is not None:  # the K+1 classifier, for ssl_accuracy
        save(trainer.D, DISCRIMINATOR_FILE)
