"""Sparse alignment functions: sparsemax and 1.5-entmax with masks (the second stage).

Both are drop-in alternatives to :func:`~attnkit.functional.masked_softmax` that can put weight
exactly 0 on low-scoring keys. The projections themselves come from the ``entmax`` package;
this module adds masking, fully-masked rows and low-precision inputs. Conventions as in
:mod:`.normalize`: masks are boolean with ``True`` = may attend, masked positions get weight
exactly 0, and a row with every position masked gets all-zero weights, never NaN.

How masking works (why not ``finfo.min``): sparsemax and 1.5-entmax find a threshold tau from
the sorted scores, their cumulative sums and (for entmax) cumulative sums of squares. With
masked scores at ``torch.finfo(dtype).min`` those intermediates overflow (squares to +inf,
differences to NaN, ``score - max`` to -inf in float16); entmax 1.3 happens to tolerate that,
but exact zeros would then rest on how a third-party kernel treats infinities. Instead, each
row is shifted so that its largest *unmasked* score is 0 (shift-invariance leaves the weights
unchanged), and masked scores, as well as any score below ``-_MASK_MARGIN``, are set to
``-_MASK_MARGIN``. With the top score at 0, sparsemax gives 0 to every score <= -1 and
1.5-entmax to every score <= -2 (their thresholds satisfy tau >= z_max - 1 and
tau >= z_max / 2 - 1, because no weight exceeds 1), so with a margin of 4 the clamped and
masked positions get weight exactly 0 with room for rounding, every intermediate stays finite,
and the result equals the projection of the unmasked scores alone. Finally the weights of rows
without an unmasked finite score (fully masked, or all -inf) are set to 0.

References:
    [Martins16] A. F. T. Martins, R. F. Astudillo. From Softmax to Sparsemax: A Sparse Model of
    Attention and Multi-Label Classification. ICML 2016. arXiv:1602.02068.
    [Peters19] B. Peters, V. Niculae, A. F. T. Martins. Sparse Sequence-to-Sequence Models.
    ACL 2019. arXiv:1905.05702.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .attention import NORMALISERS
from .masks import as_scores_mask

__all__ = ["masked_sparsemax", "masked_entmax15"]

# Distance below the top unmasked score at which masked (and lower) scores are placed, in score
# units. Not a "magic" -inf substitute: any value > 2 is provably outside the support (see the
# module docstring).
_MASK_MARGIN = 4.0


def masked_sparsemax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Sparsemax over `dim` restricted to the positions `mask` allows [Martins16] Sec. 2, Eq. 2.

    Sparsemax is the Euclidean projection of the scores onto the probability simplex,
    p = argmin_{p in simplex} ||p - z||^2, whose solution is p_i = [z_i - tau(z)]_+.
    Scores more than 1 below the row's largest unmasked score get weight exactly 0.

    Args:
        scores: unnormalised scores (energies), (B, [Nh,] Tq, Tk), floating point. Unmasked
            scores must not be NaN or +inf; an unmasked -inf gets weight 0.
        mask: boolean, broadcastable to `scores`, ``True`` = may attend; None = no masking.
        dim: dimension to normalise over (the key dimension, -1, by default).

    Returns:
        Weights with the shape and dtype of `scores`, in [0, 1]; each row sums to 1 over its
        unmasked positions, or to 0 if it has none (or if all its unmasked scores are -inf).
        float16/bfloat16 inputs are computed in float32 and rounded back.

    Raises:
        TypeError: if `mask` is not boolean.
        ValueError: if `mask` does not broadcast to `scores`.
        ImportError: if the ``entmax`` package is not installed.

    References:
        [Martins16] Eq. 2 (definition), Alg. 1 (sort-based threshold), via
        ``entmax.sparsemax``. Differences from the paper: masked positions are left out of the
        projection (see the module docstring), so the Jacobian is the paper's restricted to
        the unmasked positions.
    """
    return _masked_projection(_entmax().sparsemax, scores, mask, dim)


def masked_entmax15(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """1.5-entmax over `dim` restricted to the positions `mask` allows [Peters19] Sec. 3.

    alpha-entmax maximises p·z + H^T_alpha(p) (Tsallis entropy) over the simplex; its solution
    is p_i = [(alpha - 1) z_i - tau]_+^{1/(alpha - 1)} with tau such that sum_i p_i = 1.
    For alpha = 1.5, p_i = [z_i / 2 - tau]_+^2: between softmax
    (alpha = 1, dense) and sparsemax (alpha = 2). Scores more than 2 below the row's largest
    unmasked score get weight exactly 0.

    Args:
        scores: unnormalised scores (energies), (B, [Nh,] Tq, Tk), floating point. Unmasked
            scores must not be NaN or +inf; an unmasked -inf gets weight 0.
        mask: boolean, broadcastable to `scores`, ``True`` = may attend; None = no masking.
        dim: dimension to normalise over (the key dimension, -1, by default).

    Returns:
        Weights with the shape and dtype of `scores`, in [0, 1]; each row sums to 1 over its
        unmasked positions, or to 0 if it has none (or if all its unmasked scores are -inf).
        float16/bfloat16 inputs are computed in float32 and rounded back.

    Raises:
        TypeError: if `mask` is not boolean.
        ValueError: if `mask` does not broadcast to `scores`.
        ImportError: if the ``entmax`` package is not installed.

    References:
        [Peters19] Sec. 3 with alpha = 1.5 and its exact sort-based threshold, via
        ``entmax.entmax15``. Differences from the paper: masked positions are left out of the
        projection (see the module docstring).
    """
    return _masked_projection(_entmax().entmax15, scores, mask, dim)


def _masked_projection(project: Callable[..., Tensor], scores: Tensor, mask: Tensor | None, dim: int) -> Tensor:
    """`project(z, dim=dim)` of the unmasked scores of each row; masked -> 0, empty rows -> 0."""
    work = scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores
    if mask is None:
        mask = torch.ones((), dtype=torch.bool, device=scores.device)  # broadcasts to all
    else:
        mask = as_scores_mask(mask, scores.shape)
    # largest unmasked score per row; no gradient needed, the projection is shift-invariant
    top = work.detach().masked_fill(~mask, float("-inf")).amax(dim, keepdim=True)
    has_key = torch.isfinite(top)  # False: every position masked, or all unmasked at -inf
    top = torch.where(has_key, top, torch.zeros_like(top))
    # unmasked max at 0; scores below -margin get weight 0 anyway, so clamping them only keeps
    # the projection's sums finite (and their gradient is 0 either way)
    shifted = (work - top).clamp_min(-_MASK_MARGIN).masked_fill(~mask, -_MASK_MARGIN)
    weights = project(shifted, dim=dim) * (mask & has_key)  # exact 0 on masked; empty rows 0
    return weights.to(scores.dtype)


def _entmax():
    """The ``entmax`` package, imported on first use so that attnkit imports without it."""
    try:
        import entmax
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the 'sparsemax' and 'entmax15' normalisers need the entmax package; "
            "install it with `pip install entmax>=1.3`"
        ) from err
    return entmax


NORMALISERS.register(
    "sparsemax",
    masked_sparsemax,
    "masked sparsemax: Euclidean projection onto the simplex, exact zeros",
    "[Martins16] Eq. 2",
)
NORMALISERS.register(
    "entmax15", masked_entmax15, "masked 1.5-entmax: sparse, smoother than sparsemax", "[Peters19] Sec. 3, alpha = 1.5"
)
