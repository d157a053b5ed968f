"""``attend()``: score -> normalise -> fuse, and the registries that name each stage.

References:
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import Registry
from . import fuse, normalize, score
from .masks import check_mask

__all__ = ["Attended", "attend", "SCORES", "NORMALISERS"]

ScoreFn = Callable[..., Tensor]
NormaliseFn = Callable[[Tensor, "Tensor | None"], Tensor]

SCORES: Registry[ScoreFn] = Registry("score function")
SCORES.register("dot", score.dot, "q·k", "[Luong15] Eq. 8")
SCORES.register("scaled_dot", score.scaled_dot, "q·k / sqrt(D)", "[Vaswani17] Eq. 1")
SCORES.register("general", score.general, "bilinear q^T W k (needs weight=)", "[Luong15] Eq. 8")
SCORES.register(
    "additive", score.additive, "v^T tanh(W q + U k) on projected q, k (needs energy=)",
    "[Bahdanau15] Eq. 6",
)
SCORES.register(
    "location", score.location_for_keys, "W h_t: ignores the keys (needs weight=)", "[Luong15] Eq. 9"
)
SCORES.register("cosine", score.cosine, "cosine similarity", "[Graves14] Eq. 6")

NORMALISERS: Registry[NormaliseFn] = Registry("normaliser")
NORMALISERS.register(
    "softmax", normalize.masked_softmax, "masked softmax; fully-masked rows give 0",
    "[Bahdanau15] Eq. 6",
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
    need_weights: bool = True,
    score_kwargs: Mapping[str, Any] | None = None,
) -> Attended:
    """Attention in three stages: e = score(q, k); alpha = normalise(e, mask); c = alpha v.

    With ``need_weights=False``, a (scaled) dot score and the softmax normaliser, the fused
    kernel :func:`torch.nn.functional.scaled_dot_product_attention` computes the context; it
    gives the same numbers as the explicit path, including zeros for fully-masked rows.

    Args:
        query: queries, (..., Tq, Dq).
        key: keys, (..., Tk, Dk).
        value: values, (..., Tk, Dv).
        score: a name in :data:`SCORES` or a callable ``(q, k, **score_kwargs) -> (..., Tq, Tk)``.
        normalise: a name in :data:`NORMALISERS` or a callable ``(scores, mask) -> weights``.
        mask: boolean, broadcastable to (..., Tq, Tk), ``True`` = may attend; None = all.
        need_weights: return the weights (explicit path) or None (fused path when possible).
        score_kwargs: extra arguments of the score function (``weight`` for "general", ...).

    Returns:
        :class:`Attended` with context (..., Tq, Dv) and weights (..., Tq, Tk) or None.

    Raises:
        ValueError: for an unknown score/normaliser name, or a mask that does not broadcast.
        TypeError: for a non-boolean mask.

    References:
        [Bahdanau15] Eqs. 5-6; [Vaswani17] Eq. 1.
    """
    kwargs = dict(score_kwargs or {})
    score_fn = SCORES.get(score) if isinstance(score, str) else score
    norm_fn = NORMALISERS.get(normalise) if isinstance(normalise, str) else normalise
    if not need_weights and isinstance(score, str) and score in _FUSED_SCALE \
            and norm_fn is normalize.masked_softmax and query.shape[-1] == key.shape[-1]:
        return Attended(_fused(query, key, value, mask, _FUSED_SCALE[score](query, kwargs)), None)
    scores = score_fn(query, key, **kwargs)  # (..., Tq, Tk)
    weights = norm_fn(scores, mask)  # (..., Tq, Tk)
    context = fuse.weighted_sum(weights, value)  # (..., Tq, Dv)
    return Attended(context, weights if need_weights else None)


def _fused(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, scale: float | None) -> Tensor:
    """SDPA with rows that have no key to attend to set to zero (SDPA itself gives NaN)."""
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    scores_shape = (*torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]), q.shape[-2], k.shape[-2])
    check_mask(mask, scores_shape)
    if mask.dim() == 1:
        mask = mask.unsqueeze(0)  # (Tk,) -> (1, Tk): SDPA needs at least (Tq, Tk)
    has_key = mask.any(dim=-1, keepdim=True)  # (..., Tq or 1, 1)
    safe = mask | ~has_key  # rows with no key attend everywhere, then get zeroed
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=safe, scale=scale)
    return context * has_key.to(context.dtype)
