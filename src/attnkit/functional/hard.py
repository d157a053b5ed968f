"""Hard alignment functions: one-hot attention weights (the second stage).

Hard attention attends to a single key per query. The forward pass is a one-hot vector; to
train through it, :func:`hard_argmax` and :func:`gumbel_softmax_st` back-propagate the gradient
of a softmax instead (straight-through), while :func:`sample_hard` returns the log-probability
of its sample for score-function (REINFORCE) training. Conventions as in :mod:`.normalize`:
masks are boolean with ``True`` = may attend; a masked position is never chosen and gets weight
exactly 0; a row with every position masked gets all-zero weights (and a log-probability of
0), never NaN.

Straight-through is written ``hard + (soft - soft.detach())``: the gradient of ``soft``, and
in the forward pass exactly ``hard``, since ``soft - soft.detach()`` is exactly 0.

References:
    [Bengio13] Y. Bengio, N. Léonard, A. Courville. Estimating or Propagating Gradients Through
    Stochastic Neurons for Conditional Computation. 2013. arXiv:1308.3432.
    [Jang17] E. Jang, S. Gu, B. Poole. Categorical Reparameterization with Gumbel-Softmax.
    ICLR 2017. arXiv:1611.01144.
    [Xu15] K. Xu, J. Ba, R. Kiros, K. Cho et al. Show, Attend and Tell: Neural Image Caption
    Generation with Visual Attention. ICML 2015. arXiv:1502.03044.
    [Williams92] R. J. Williams. Simple Statistical Gradient-Following Algorithms for
    Connectionist Reinforcement Learning. Machine Learning 8(3-4):229-256, 1992.
    DOI:10.1007/BF00992696.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .attention import NORMALISERS
from .masks import as_scores_mask
from .normalize import masked_softmax

__all__ = ["hard_argmax", "gumbel_softmax_st", "sample_hard"]


def hard_argmax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """One-hot weights at the best unmasked score, with the masked softmax's gradient.

    Forward: 1 at the argmax over `dim` of the unmasked scores (the first one on ties), 0
    elsewhere. Backward: the gradient of :func:`~attnkit.functional.masked_softmax`, i.e. the
    straight-through estimator [Bengio13] with the softmax as the surrogate.

    Args:
        scores: unnormalised scores (energies), (B, [Nh,] Tq, Tk), floating point.
        mask: boolean, broadcastable to `scores`, ``True`` = may attend; None = no masking.
        dim: dimension to choose along (the key dimension, -1, by default).

    Returns:
        Weights with the shape and dtype of `scores`: exactly one 1 per row, at an unmasked
        position, and 0 elsewhere; all 0 for a fully-masked row.

    Raises:
        TypeError: if `mask` is not boolean.
        ValueError: if `mask` does not broadcast to `scores`.

    References:
        [Bengio13] straight-through estimator; deterministic hard attention as used at
        inference in [Xu15] Sec. 4.1. Differences from the papers: the backward pass uses the
        softmax Jacobian (as in [Jang17] Sec. 2.2 without noise), not the identity.
    """
    mask = as_scores_mask(mask, scores.shape)  # validates the mask
    soft = masked_softmax(scores, mask, dim)
    hard, _ = _one_hot_argmax(scores.detach(), mask, dim)
    return _straight_through(hard, soft)


def gumbel_softmax_st(
    scores: Tensor,
    mask: Tensor | None = None,
    dim: int = -1,
    *,
    tau: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Straight-through Gumbel-softmax: a one-hot sample from softmax(scores) [Jang17] Sec. 2.2.

    With Gumbel noise g_i = -log(-log U_i), U_i ~ Uniform(0, 1) drawn by ``torch.rand`` from
    `generator`, the forward pass is one-hot at argmax_i (s_i + g_i) over the unmasked
    positions, an exact sample from the masked softmax (Gumbel-max, [Jang17] Eq. 1). The
    backward pass is the gradient of the relaxed sample masked_softmax((s + g) / tau)
    ([Jang17] Eq. 2), with the same noise.

    Unlike :func:`torch.nn.functional.gumbel_softmax` with ``-inf`` for masked scores, a
    fully-masked row gives zeros instead of NaN.

    Args:
        scores: unnormalised log-probabilities (logits), (B, [Nh,] Tq, Tk), floating point.
        mask: boolean, broadcastable to `scores`, ``True`` = may attend; None = no masking.
        dim: dimension to sample along (the key dimension, -1, by default).
        tau: temperature of the relaxation, > 0, dimensionless; it changes the gradient only
            (small = closer to the one-hot sample but higher variance).
        generator: source of the noise; None = PyTorch's global generator.

    Returns:
        Weights with the shape and dtype of `scores`: exactly one 1 per row, at an unmasked
        position, and 0 elsewhere; all 0 for a fully-masked row. float16/bfloat16 inputs are
        perturbed in float32.

    Raises:
        ValueError: if `tau` is not a finite positive number, or `mask` does not broadcast.
        TypeError: if `mask` is not boolean.

    References:
        [Jang17] Eqs. 1-2 and Sec. 2.2 (straight-through Gumbel-softmax); our `tau` is the
        paper's temperature tau and our `scores` its log pi_i (up to a constant per row).
    """
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a finite temperature > 0, got {tau!r}; try tau=1.0")
    if mask is not None:
        mask = as_scores_mask(mask, scores.shape)
    work = _working_precision(scores)
    perturbed = work + _gumbel_noise(work, generator)  # log pi_i + g_i
    hard, _ = _one_hot_argmax(perturbed.detach(), mask, dim)  # Eq. 1
    soft = masked_softmax(perturbed / tau, mask, dim)  # Eq. 2
    return _straight_through(hard, soft).to(scores.dtype)


def sample_hard(
    scores: Tensor, mask: Tensor | None = None, dim: int = -1, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Sample one position per row from the masked softmax, for REINFORCE [Xu15] Sec. 4.1.

    Stochastic hard attention: s ~ Multinoulli(alpha) with alpha = masked_softmax(scores)
    ([Xu15] Sec. 4.1), drawn by Gumbel-max with noise from `generator`. The one-hot weights
    carry no gradient; train the scores through the returned log-probability, e.g.
    ``loss = -(reward - baseline).detach() * log_prob`` (the score-function estimator of
    [Xu15] Sec. 4.1).

    Registered as the ``"reinforce"`` normaliser through :func:`_sample_weights`, which keeps
    only the weights (a normaliser returns one tensor); modules built with that normaliser call
    this function themselves while training, to get the log-probability too.

    Args:
        scores: unnormalised log-probabilities (logits), (B, [Nh,] Tq, Tk), floating point.
        mask: boolean, broadcastable to `scores`, ``True`` = may attend; None = no masking.
        dim: dimension to sample along (the key dimension, -1, by default).
        generator: source of the noise; None = PyTorch's global generator.

    Returns:
        ``(weights, log_prob)``: weights with the shape and dtype of `scores`, one-hot at the
        sampled (always unmasked) position, all 0 for a fully-masked row, without gradient;
        log_prob, the shape of `scores` without `dim` (e.g. (B, Tq)), the log of the masked
        softmax at the sampled position (<= 0), differentiable w.r.t. `scores`; 0 for a
        fully-masked row.

    Raises:
        TypeError: if `mask` is not boolean.
        ValueError: if `mask` does not broadcast to `scores`.

    References:
        [Xu15] Sec. 4.1 (stochastic "hard" attention and its REINFORCE gradient).
    """
    if mask is not None:
        mask = as_scores_mask(mask, scores.shape)
    work = _working_precision(scores)
    with torch.no_grad():
        weights, index = _one_hot_argmax(work + _gumbel_noise(work, generator), mask, dim)
    if mask is None:
        log_probs = torch.log_softmax(work, dim)
    else:  # fully-masked rows come out uniform here and are replaced by 0 below
        log_probs = torch.log_softmax(work.masked_fill(~mask, torch.finfo(work.dtype).min), dim)
    log_prob = log_probs.gather(dim, index).squeeze(dim)  # (B, Tq) for dim = -1
    if mask is not None:
        has_key = mask.expand(scores.shape).any(dim)
        log_prob = torch.where(has_key, log_prob, torch.zeros_like(log_prob))
    return weights.to(scores.dtype), log_prob.to(scores.dtype)


def _straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """Exactly `hard` in the forward pass, the gradient of `soft` in the backward pass."""
    return hard + (soft - soft.detach())  # [Bengio13]; the bracket is exactly 0 going forward


def _one_hot_argmax(values: Tensor, mask: Tensor | None, dim: int) -> tuple[Tensor, Tensor]:
    """One-hot (shape of `values`) at the largest unmasked value along `dim`, and its index
    (keepdim); rows with no unmasked position give all zeros."""
    if mask is not None:
        values = values.masked_fill(~mask, float("-inf"))
    index = values.argmax(dim, keepdim=True)
    hard = torch.zeros_like(values).scatter_(dim, index, 1.0)
    return (hard if mask is None else hard * mask), index


def _gumbel_noise(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard Gumbel noise -log(-log U), U ~ Uniform(0, 1), with the shape of `like`."""
    u = torch.rand(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    return -torch.log(-torch.log(u.clamp_min(torch.finfo(like.dtype).tiny)))


def _working_precision(scores: Tensor) -> Tensor:
    """`scores` in float32 if they are float16/bfloat16 (coarse noise would bias sampling)."""
    return scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores


NORMALISERS.register(
    "hard",
    hard_argmax,
    "one-hot at the masked argmax; straight-through softmax gradient",
    "[Bengio13]; [Xu15] Sec. 4.1",
)
NORMALISERS.register(
    "gumbel",
    gumbel_softmax_st,
    "one-hot sample from the masked softmax; straight-through Gumbel-softmax gradient, tau = 1",
    "[Jang17] Sec. 2.2",
)


def _sample_weights(scores: Tensor, mask: Tensor | None = None) -> Tensor:
    """The ``"reinforce"`` normaliser: one-hot weights sampled by :func:`sample_hard` [Xu15] Sec. 4.1.

    As a normaliser it returns the weights only; :class:`~attnkit.nn.AdditiveAttention` with
    ``normaliser="reinforce"`` calls :func:`sample_hard` itself while training and returns the
    log-probabilities, which the trainer weights by the reward r = log p(y | s, x) of each
    sentence (score-function estimator, [Williams92]); at inference the module uses "hard"
    (argmax) instead.

    Args:
        scores: unnormalised scores, (B, [Nh,] Tq, Tk), floating point.
        mask: boolean, broadcastable to `scores`, ``True`` = may attend; None = no masking.

    Returns:
        One-hot weights with the shape and dtype of `scores`, without gradient; all 0 for a
        fully-masked row.

    Raises:
        TypeError: if `mask` is not boolean.
        ValueError: if `mask` does not broadcast to `scores`.

    Differences from the paper:
        With label smoothing (``train.label_smoothing`` > 0) the REINFORCE reward is minus the
        label-smoothed NLL of the sentence, not log p(y | s, x): the trainer reuses the
        (smoothed) loss it has already computed.

    References:
        [Xu15] Sec. 4.1; [Williams92] (REINFORCE).
    """
    return sample_hard(scores, mask)[0]


NORMALISERS.register(
    "reinforce",
    _sample_weights,
    "sampled one-hot position; modules return its log-probability for REINFORCE (argmax at inference)",
    "[Xu15] Sec. 4.1",
)
