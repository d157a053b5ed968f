"""Alignment functions: turn scores into attention weights (the second stage).

Masks are boolean with ``True`` = may attend. Masked positions get weight exactly 0; a row in
which every position is masked gets all-zero weights (so a zero context vector), never NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .masks import as_scores_mask

__all__ = ["masked_softmax"]


def masked_softmax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Softmax over `dim` restricted to the positions `mask` allows.

    Masked scores are filled with ``torch.finfo(dtype).min`` before the softmax and the result
    is multiplied by the mask, so masked weights are exactly 0 and a fully-masked row is all 0.

    Args:
        scores: unnormalised scores (energies), (B, [Nh,] Tq, Tk), floating point.
        mask: boolean, broadcastable to `scores`, ``True`` = may attend; None = no masking.
        dim: dimension to normalise over (the key dimension, -1, by default).

    Returns:
        Weights with the shape of `scores`, in [0, 1]; each row sums to 1 over its unmasked
        positions, or to 0 if it has none.

    Raises:
        TypeError: if `mask` is not boolean.
        ValueError: if `mask` does not broadcast to `scores`.

    References:
        [Bahdanau15] Eq. 6 (alpha_ij); masking as in [Vaswani17] Sec. 3.2.3.
    """
    if mask is None:
        return torch.softmax(scores, dim=dim)
    mask = as_scores_mask(mask, scores.shape)
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=dim) * mask  # exact 0 on masked; all-masked rows -> 0
