"""Local windows and the Gaussian of Luong's local attention [Luong15] Sec. 3.2, as pure functions.

:func:`local_window_mask` builds the boolean windows [p_t - D, p_t + D] ∩ [0, S_b - 1] of
local-m and local-p; :func:`gaussian_weights` the factor exp(-(s - p_t)^2 / (2 sigma^2)) of
local-p (Eq. 10). The modules :class:`~attnkit.nn.local.LocalMonotonicAttention` and
:class:`~attnkit.nn.local.LocalPredictiveAttention` call them. Masks are boolean, ``True`` = may
attend. Positions are 0-based token indices; the window radius D (``window``) is in tokens.

References:
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_window", "local_window_mask", "gaussian_weights"]


def check_window(window: int, minimum: int = 0) -> None:
    """Validate a window half-width D (in tokens).

    Raises:
        TypeError: if `window` is not an int (booleans are rejected).
        ValueError: if `window` is below `minimum`.
    """
    if isinstance(window, bool) or not isinstance(window, int):
        raise TypeError(f"window must be an int (half-width D in tokens), got {window!r}")
    if window < minimum:
        raise ValueError(f"window must be >= {minimum} (half-width D in tokens), got {window}")


def local_window_mask(centers: Tensor, lengths: Tensor, window: int, tk: int) -> Tensor:
    """Boolean mask of the local windows [c - D, c + D] ∩ [0, S_b - 1] [Luong15] Sec. 3.2.

    Real-valued centres are rounded half up (floor(c + 0.5)), so every window holds 2D + 1
    integer positions before clipping to the sentence. The window is the paper's as long as it
    is non-empty, i.e. for -D <= c <= S_b - 1 + D; only a centre further out is clamped into
    that range, so that a decoder step past the end of a short source sentence keeps the last
    non-empty window, the single token S_b - 1 (and a centre before -D keeps token 0). The mask
    carries no gradient.

    Args:
        centers: window centres c (the paper's p_t), (B, Tq), integer or floating point,
            in tokens (0-based source positions).
        lengths: real source lengths S_b, (B,), integer, each in [0, Tk]. A length of 0
            gives an all-False mask for that example.
        window: half-width D in tokens, >= 0.
        tk: number of (padded) source positions Tk.

    Returns:
        Boolean mask (B, Tq, Tk), ``True`` = may attend: position s is in the window of query
        i of example b iff |s - c'_bi| <= D and 0 <= s < S_b, where c'_bi is the rounded centre
        clamped to [-D, S_b - 1 + D].

    Raises:
        TypeError: if `window` is not an int.
        ValueError: if `window` is negative, `centers` is not 2-D, `lengths` is not an integer
            (B,) tensor, or a length lies outside [0, Tk].

    Differences from the paper:
        The paper does not say what happens when the window [p_t - D, p_t + D] lies wholly
        outside the sentence (local-m with t > S - 1 + D); we attend to the nearest token
        rather than to nothing.
    """
    check_window(window)
    if centers.dim() != 2:
        raise ValueError(f"centers must be (B, Tq), got shape {tuple(centers.shape)}")
    if (
        lengths.dim() != 1
        or lengths.shape[0] != centers.shape[0]
        or lengths.is_floating_point()
        or lengths.dtype == torch.bool
    ):
        raise ValueError(
            f"lengths must be an integer tensor (B,) = ({centers.shape[0]},), got dtype "
            f"{lengths.dtype} and shape {tuple(lengths.shape)}"
        )
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > tk):
        raise ValueError(f"lengths must lie in [0, Tk={tk}], got {lengths.tolist()}")
    centers = centers.detach()
    if centers.is_floating_point():
        centers = torch.floor(centers + 0.5)  # round half up
    centers = centers.long()
    lengths = lengths.to(centers.device).long()
    last = (lengths - 1 + window).unsqueeze(1)  # (B, 1): the last centre whose window is non-empty
    centers = torch.minimum(centers.clamp(min=-window), last)  # (B, Tq), clamped only if empty
    s = torch.arange(tk, device=centers.device)  # (Tk,)
    near = (s - centers.unsqueeze(-1)).abs() <= window  # (B, Tq, Tk)
    inside = s < lengths[:, None, None]  # (B, 1, Tk)
    return near & inside


def gaussian_weights(centers: Tensor, tk: int, sigma: float) -> Tensor:
    """exp(-(s - p_t)^2 / (2 sigma^2)) for every source position s [Luong15] Eq. 10.

    Args:
        centers: real-valued centres p_t, (B, Tq), in tokens; gradients flow through them.
            Integer centres are converted to the default floating dtype.
        tk: number of source positions Tk (s = 0, ..., Tk - 1).
        sigma: standard deviation in tokens, > 0 (the paper uses D / 2).

    Returns:
        Gaussian factors in (0, 1], (B, Tq, Tk), 1 where s = p_t; dtype of `centers`.

    Raises:
        ValueError: if `centers` is not 2-D or `sigma` is not positive.
    """
    if centers.dim() != 2:
        raise ValueError(f"centers must be (B, Tq), got shape {tuple(centers.shape)}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 (in tokens), got {sigma}")
    if not centers.is_floating_point():
        centers = centers.to(torch.get_default_dtype())
    s = torch.arange(tk, device=centers.device, dtype=centers.dtype)  # (Tk,)
    return torch.exp(-((s - centers.unsqueeze(-1)) ** 2) / (2 * sigma**2))  # Eq. 10
