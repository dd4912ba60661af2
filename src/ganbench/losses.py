"""GAN and VAE objectives as small functions on raw discriminator outputs (logits).

Every cross-entropy is written with ``softplus`` / BCE-with-logits, which is the sigmoid
formulation of the papers made numerically stable: ``-log sigmoid(l) = softplus(-l)`` and
``-log(1 - sigmoid(l)) = softplus(l)``. Discriminator losses take ``(real, fake)`` logits of
shape (N,); generator losses take the fake logits. All return a scalar mean over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------- cross-entropy


def minimax_loss_dis(real: torch.Tensor, fake: torch.Tensor,
                     smoothing: float = 0.0) -> torch.Tensor:
    """``-log D(x) - log(1 - D(G(z)))`` (Goodfellow et al. 2014, eq. 1).

    ``smoothing`` > 0 is one-sided label smoothing (Salimans et al. 2016): the real target
    becomes ``1 - smoothing``; fake targets stay 0.
    """
    target = torch.full_like(real, 1.0 - smoothing)
    return (F.binary_cross_entropy_with_logits(real, target)
            + F.softplus(fake).mean())


def minimax_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """The saturating ``log(1 - D(G(z)))`` that G minimises (Goodfellow et al. 2014, eq. 1).

    ``log(1 - sigmoid(l)) = -softplus(l)``; its gradient vanishes when D rejects the fakes,
    which is why the paper recommends the non-saturating form in practice.
    """
    return -F.softplus(fake).mean()


nonsaturating_loss_dis = minimax_loss_dis  # D's loss is the same cross-entropy


def nonsaturating_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """``-log D(G(z))`` (Goodfellow et al. 2014, section 3: "maximize log D(G(z))")."""
    return F.softplus(-fake).mean()


# --------------------------------------------------------------------------- other GAN losses


def least_squares_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN ``0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2`` (Mao et al. 2017, 0-1 coding a=0, b=c=1)."""
    return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake ** 2).mean()


def least_squares_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """LSGAN ``0.5 (D(G(z)) - 1)^2`` (Mao et al. 2017)."""
    return 0.5 * ((fake - 1.0) ** 2).mean()


def hinge_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``max(0, 1 - D(x)) + max(0, 1 + D(G(z)))`` (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """``-D(G(z))`` (Lim & Ye 2017; Miyato et al. 2018)."""
    return -fake.mean()


def wasserstein_loss_dis(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Critic ``D(G(z)) - D(x)``, minus the Kantorovich-Rubinstein estimate (Arjovsky et al. 2017).

    Only meaningful with a Lipschitz constraint: ``clip_weights_`` or ``gradient_penalty``.
    """
    return fake.mean() - real.mean()


def wasserstein_loss_gen(fake: torch.Tensor) -> torch.Tensor:
    """``-D(G(z))`` (Arjovsky et al. 2017)."""
    return -fake.mean()


CROSS_ENTROPY = ("minimax", "nonsaturating")

_DIS = {"minimax": minimax_loss_dis, "nonsaturating": nonsaturating_loss_dis,
        "least_squares": least_squares_loss_dis, "hinge": hinge_loss_dis,
        "wasserstein": wasserstein_loss_dis}
_GEN = {"minimax": minimax_loss_gen, "nonsaturating": nonsaturating_loss_gen,
        "least_squares": least_squares_loss_gen, "hinge": hinge_loss_gen,
        "wasserstein": wasserstein_loss_gen}


def discriminator_loss(objective: str, real: torch.Tensor, fake: torch.Tensor,
                       smoothing: float = 0.0) -> torch.Tensor:
    """D's loss for ``objective`` (a ``VariantParams.objective``)."""
    if objective in CROSS_ENTROPY:
        return _DIS[objective](real, fake, smoothing)
    if smoothing:
        raise ValueError(f"label smoothing applies to {', '.join(CROSS_ENTROPY)}, not {objective}")
    return _DIS[objective](real, fake)


def generator_loss(objective: str, fake: torch.Tensor) -> torch.Tensor:
    """G's adversarial loss for ``objective``."""
    return _GEN[objective](fake)


def discriminator_outputs(objective: str, logits: torch.Tensor) -> torch.Tensor:
    """What the log reports as d_real / d_fake: mean ``sigmoid(D)`` for the cross-entropy
    losses (a probability), the mean raw output otherwise (LSGAN score, hinge/critic value)."""
    return torch.sigmoid(logits).mean() if objective in CROSS_ENTROPY else logits.mean()


# --------------------------------------------------------------------------- Lipschitz


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor | None = None, *, weight: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP ``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` (Gulrajani et al. 2017, Alg. 1).

    ``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]`` per sample (drawn from
    ``generator`` when given). The graph is kept (``create_graph``) so the penalty trains D.
    ``critic(x)`` or ``critic(x, labels)`` must return one value per sample.
    """
    fake = fake.detach()
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator,
                     device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake).requires_grad_(True)
    out = critic(x_hat) if labels is None else critic(x_hat, labels)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


def r1_penalty(discriminator, real: torch.Tensor, labels: torch.Tensor | None = None, *,
               gamma: float) -> torch.Tensor:
    """R1 ``gamma / 2 * E[||grad_x D(x)||^2]`` on real data (Mescheder et al. 2018, eq. 9).

    Works with any loss: it penalises D's gradient where the data are, which keeps D from
    pushing the generator off the data manifold. ``create_graph`` so the penalty trains D.
    """
    x = real.detach().requires_grad_(True)
    out = discriminator(x) if labels is None else discriminator(x, labels)
    (grad,) = torch.autograd.grad(out.float().sum(), x, create_graph=True)
    return 0.5 * gamma * grad.float().pow(2).flatten(1).sum(dim=1).mean()


@torch.no_grad()
def clip_weights_(module: torch.nn.Module, clip: float) -> None:
    """Clamp every parameter of the critic to ``[-clip, clip]`` in place (Arjovsky et al. 2017,
    Algorithm 1, c = 0.01), applied after each critic update."""
    for p in module.parameters():
        p.clamp_(-clip, clip)


# --------------------------------------------------------------------------- Salimans tricks


def smoothed_targets(real: torch.Tensor, smoothing: float) -> torch.Tensor:
    """One-sided label smoothing targets ``1 - smoothing`` for real samples (Salimans et al.
    2016, section 3.4); fakes keep target 0 (smoothing them too would reward bad samples)."""
    return torch.full_like(real, 1.0 - smoothing)


def feature_matching_loss(real_features: torch.Tensor,
                          fake_features: torch.Tensor) -> torch.Tensor:
    """``|| E f(x) - E f(G(z)) ||_2^2`` over D's penultimate features (Salimans et al. 2016,
    section 3.1); replaces G's adversarial loss when ``feature_matching`` is on."""
    diff = real_features.detach().float().mean(dim=0) - fake_features.float().mean(dim=0)
    return (diff ** 2).sum()


def semi_supervised_loss_dis(labeled_logits: torch.Tensor, labels: torch.Tensor,
                             real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The K+1-class discriminator's loss (Salimans et al. 2016, section 5):
    ``L_supervised + L_unsupervised``.

    ``labeled_logits`` (N, K): the class logits of labelled real images, ``labels`` their
    classes: ``L_sup = -log p(y | x, y < K+1)``, the cross-entropy over the K real classes.
    ``real`` / ``fake``: ``log Z(x) = logsumexp_k l_k(x)`` of unlabelled real and of generated
    images, the logit of ``D(x) = Z / (Z + 1)`` (the fake class's logit fixed at 0):
    ``L_unsup = -log D(x) - log(1 - D(G(z))) = softplus(-log Z(x)) + softplus(log Z(G(z)))``.
    """
    supervised = F.cross_entropy(labeled_logits.float(), labels)
    return supervised + F.softplus(-real).mean() + F.softplus(fake).mean()


def historical_average_penalty(params, averages, weight: float) -> torch.Tensor:
    """``weight * sum ||theta - mean of past theta||^2`` over a network's parameters
    (Salimans et al. 2016, section 3.3; the average is ``HistoricalAverage``'s)."""
    total = sum(((p.float() - a.float()) ** 2).sum() for p, a in zip(params, averages))
    return weight * total


class HistoricalAverage(torch.nn.Module):
    """The running mean of a network's parameters over its past updates, as buffers (so it
    is checkpointed with the trainer): ``update`` after each optimiser step."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.names = [n.replace(".", "__") for n, _ in module.named_parameters()]
        for name, p in zip(self.names, module.parameters()):
            self.register_buffer(name, p.detach().clone())
        self.register_buffer("count", torch.ones((), dtype=torch.float64))

    def averages(self) -> list[torch.Tensor]:
        return [getattr(self, name) for name in self.names]

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        """``mean_t = mean_{t-1} + (theta_t - mean_{t-1}) / t`` (the mean of every past theta,
        the initial one included)."""
        self.count += 1
        averages = self.averages()
        steps = torch._foreach_sub([p.detach() for p in module.parameters()], averages)
        torch._foreach_mul_(steps, (1.0 / self.count).float())  # a tensor: no host sync
        torch._foreach_add_(averages, steps)


# --------------------------------------------------------------------------- VAE


def elbo_loss(recon_logits: torch.Tensor, target: torch.Tensor, mu: torch.Tensor,
              logvar: torch.Tensor, likelihood: str = "bernoulli", sigma: float = 0.1):
    """Negative ELBO per sample, averaged over the batch (Kingma & Welling 2014, eq. 10).

    Returns ``(loss, recon, kl)`` with ``loss = recon + kl``, each summed over pixels /
    latent dims. ``target`` is the image in [-1, 1].

    - ``bernoulli`` (used for training, as in the paper's MNIST experiments): the pixels in
      [0, 1] are read as Bernoulli-like targets of ``recon_logits`` (BCE-with-logits with
      continuous targets; the decoder mean is ``sigmoid(logits)``). With the decoder's
      ``tanh(a)`` output, the logits are ``2a``. Sharp on MNIST-like data.
    - ``gaussian``: ``||x - mu_x||^2 / (2 sigma^2)`` with fixed ``sigma`` on the [-1, 1] image,
      ``mu_x = tanh(recon_logits / 2)``; constants dropped.

    KL(q(z|x) || N(0, I)) = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) (appendix B).
    """
    n = target.shape[0]
    if likelihood == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(
            recon_logits, (target + 1.0) / 2.0, reduction="sum") / n
    elif likelihood == "gaussian":
        mean = torch.tanh(recon_logits / 2.0)
        recon = ((target - mean) ** 2).sum() / (2.0 * sigma ** 2) / n
    else:
        raise ValueError(f"likelihood must be bernoulli or gaussian, got {likelihood!r}")
    kl = -0.5 * (1.0 + logvar - mu ** 2 - logvar.exp()).sum() / n
    return recon + kl, recon, kl
