"""``attend()``: score -> normalise -> fuse, and the registries that name each stage.

References:
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Press21] O. Press, N. A. Smith, M. Lewis. Train Short, Test Long: Attention with Linear
    Biases Enables Input Length Extrapolation. ICLR 2022. arXiv:2108.12409.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import Registry
from . import fuse, normalize, score
from .masks import as_scores_mask, broadcast_shape, causal_mask, check_mask

__all__ = ["Attended", "attend", "SCORES", "NORMALISERS"]

ScoreFn = Callable[..., Tensor]
NormaliseFn = Callable[[Tensor, "Tensor | None"], Tensor]

SCORES: Registry[ScoreFn] = Registry("score function")
SCORES.register("dot", score.dot, "q·k", "[Luong15] Eq. 8")
SCORES.register("scaled_dot", score.scaled_dot, "q·k / sqrt(D)", "[Vaswani17] Eq. 1")
SCORES.register("general", score.general, "bilinear q^T W k (needs weight=)", "[Luong15] Eq. 8")
SCORES.register(
    "additive", score.additive, "v^T tanh(W q + U k) on projected q, k (needs energy=)", "[Bahdanau15] Eq. 6"
)
SCORES.register("location", score.location_for_keys, "W h_t: ignores the keys (needs weight=)", "[Luong15] Eq. 9")
SCORES.register("cosine", score.cosine, "cosine similarity", "[Graves14] Eq. 6")
SCORES.register(
    "location_aware",
    score.location_aware,
    "v^T tanh(W q + U k + U_f (F * alpha_prev)) (needs prev_weights=, filters=, loc_proj=, energy=)",
    "[Chorowski15] Eqs. 5-9",
)

NORMALISERS: Registry[NormaliseFn] = Registry("normaliser")
NORMALISERS.register(
    "softmax", normalize.masked_softmax, "masked softmax; fully-masked rows give 0", "[Bahdanau15] Eq. 6"
)

_FUSED_SCALE: dict[str, Callable[[Tensor, Mapping[str, Any]], float | None]] = {
    "dot": lambda q, kw: 1.0,
    "scaled_dot": lambda q, kw: kw.get("scale"),
}


class Attended(NamedTuple):
    """Output of an attention layer."""

    context: Tensor  # (B, Tq, Dv) or (B, Nh, Tq, Dh)
    weights: Tensor | None  # (B, Tq, Tk) or (B, Nh, Tq, Tk); None if not requested


def attend(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    score: str | ScoreFn = "scaled_dot",
    normalise: str | NormaliseFn = "softmax",
    mask: Tensor | None = None,
    bias: Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    need_weights: bool = True,
    score_kwargs: Mapping[str, Any] | None = None,
) -> Attended:
    """Attention in three stages: e = score(q, k) + bias; alpha = normalise(e, mask); c = alpha v.

    With ``need_weights=False``, a (scaled) dot score and the softmax normaliser, the fused
    kernel :func:`torch.nn.functional.scaled_dot_product_attention` computes the context; it
    gives the same numbers as the explicit path, including zeros for fully-masked rows. With
    ``is_causal`` and no other mask or bias and Tq == Tk, the kernel gets ``is_causal=True``.

    Args:
        query: queries, (..., Tq, Dq).
        key: keys, (..., Tk, Dk).
        value: values, (..., Tk, Dv).
        score: a name in :data:`SCORES` or a callable ``(q, k, **score_kwargs) -> (..., Tq, Tk)``.
        normalise: a name in :data:`NORMALISERS` or a callable ``(scores, mask) -> weights``.
        mask: boolean, ``True`` = may attend; None = all. (Tk,), (B, Tk) padding, (B|1, Tq|1, Tk) or
            the scores' rank: one meaning per rank, see :mod:`attnkit.functional.masks`.
        bias: additive float scores, broadcastable to (..., Tq, Tk) without enlarging them,
            e.g. ALiBi (Nh, Tq, Tk); cast to the dtype of `query`. It must be finite where the
            mask allows attending: forbid positions with `mask`, not with -inf in `bias`.
        is_causal: also forbid query i to attend key j > i + Tk - Tq (the queries are the last
            Tq positions, as with a KV cache; see :func:`~attnkit.functional.causal_mask`).
        dropout_p: probability in [0, 1) of zeroing each attention weight (survivors are
            scaled by 1 / (1 - p)); applied whenever > 0, so pass 0 in evaluation. The fused
            and explicit paths draw different random masks, so they agree only for p = 0.
        need_weights: return the weights (explicit path) or None (fused path when possible).
        score_kwargs: extra arguments of the score function (``weight`` for "general", ...).

    Returns:
        :class:`Attended` with context (..., Tq, Dv) and weights (..., Tq, Tk) or None; the
        weights are those the context was computed with (after dropout).

    Raises:
        ValueError: for an unknown score/normaliser name, a mask or bias that does not
            broadcast, ``is_causal`` with Tk < Tq, or `dropout_p` outside [0, 1).
        TypeError: for a non-boolean mask or a non-floating-point bias.

    References:
        [Bahdanau15] Eqs. 5-6; [Vaswani17] Eq. 1, Sec. 3.2.3 (causal masking), Sec. 5.4
        (dropout); [Press21] ALiBi biases.
    """
    kwargs = dict(score_kwargs or {})
    score_fn = SCORES.get(score) if isinstance(score, str) else score
    norm_fn = NORMALISERS.get(normalise) if isinstance(normalise, str) else normalise
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be a probability in [0, 1), got {dropout_p}")
    if bias is not None:
        bias = _checked_bias(bias, _scores_shape(query, key), query.dtype)
    mask = as_scores_mask(mask, _scores_shape(query, key))  # one meaning per rank (functional.masks)
    if is_causal and query.shape[-2] == 1:
        is_causal = False  # one query, the last position: it may attend every key
    if (
        not need_weights
        and isinstance(score, str)
        and score in _FUSED_SCALE
        and norm_fn is normalize.masked_softmax
        and query.shape[-1] == key.shape[-1]
    ):
        scale = _FUSED_SCALE[score](query, kwargs)
        return Attended(_fused(query, key, value, mask, bias, is_causal, dropout_p, scale), None)
    if is_causal:
        mask = _with_causal(mask, _scores_shape(query, key), query.device)
    scores = score_fn(query, key, **kwargs)  # (..., Tq, Tk)
    if bias is not None:
        scores = scores + bias
    weights = norm_fn(scores, mask)  # (..., Tq, Tk)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    context = fuse.weighted_sum(weights, value)  # (..., Tq, Dv)
    return Attended(context, weights if need_weights else None)


def _scores_shape(q: Tensor, k: Tensor) -> tuple[int, ...]:
    """Shape (..., Tq, Tk) of the scores of queries `q` (..., Tq, Dq) and keys `k` (..., Tk, Dk)."""
    batch = broadcast_shape(q.shape[:-2], k.shape[:-2])
    if batch is None:
        raise ValueError(
            f"queries {tuple(q.shape)} and keys {tuple(k.shape)} disagree in their leading (batch, head) dimensions"
        )
    return (*batch, q.shape[-2], k.shape[-2])


def _checked_bias(bias: Tensor, scores_shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """`bias` cast to `dtype` after checking it is floating point and broadcasts to the scores."""
    if not bias.is_floating_point():
        raise TypeError(f"bias must be a floating-point tensor of additive scores, got {bias.dtype}")
    if broadcast_shape(bias.shape, scores_shape) != tuple(scores_shape):
        raise ValueError(
            f"bias of shape {tuple(bias.shape)} does not broadcast to scores {scores_shape}; "
            "pass e.g. (Nh, Tq, Tk) for per-head biases or (Tq, Tk) for one shared bias"
        )
    return bias.to(dtype)


def _with_causal(mask: Tensor | None, scores_shape: tuple[int, ...], device: torch.device) -> Tensor:
    """`mask` and the causal constraint j <= i + Tk - Tq, as one boolean mask."""
    causal = causal_mask(scores_shape[-2], scores_shape[-1], device=device)  # (Tq, Tk)
    causal = causal.view(*([1] * (len(scores_shape) - 2)), *causal.shape)  # (1, [1,] Tq, Tk): the scores' rank
    if mask is None:
        return causal
    check_mask(mask, scores_shape)
    return mask & causal


def _fused(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    bias: Tensor | None,
    is_causal: bool,
    dropout_p: float,
    scale: float | None,
) -> Tensor:
    """SDPA with rows that have no key to attend to set to zero (SDPA itself gives NaN)."""
    if mask is None and bias is None and (not is_causal or q.shape[-2] == k.shape[-2]):
        # SDPA's own causal mask is top-left aligned, which is ours only when Tq == Tk
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=is_causal, scale=scale)
    scores_shape = _scores_shape(q, k)
    if is_causal:
        mask = _with_causal(mask, scores_shape, q.device)
    if mask is None:  # bias only (no mask, no bias and no causal mask returned above): every row has a key
        assert bias is not None
        attn_mask = bias if bias.dim() >= 2 else bias.unsqueeze(0)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale)
    check_mask(mask, scores_shape)
    if mask.dim() == 1:
        mask = mask.unsqueeze(0)  # (Tk,) -> (1, Tk): SDPA needs at least (Tq, Tk)
    has_key = mask.any(dim=-1, keepdim=True)  # (..., Tq or 1, 1)
    safe = mask | ~has_key  # rows with no key attend everywhere, then get zeroed
    # with a bias, fold the mask into it, filling as masked_softmax does on the explicit path
    attn_mask = safe if bias is None else torch.where(safe, bias, torch.finfo(bias.dtype).min)
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale)
    return context * has_key.to(context.dtype)
