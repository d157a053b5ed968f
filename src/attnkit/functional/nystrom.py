"""Nyströmformer attention: softmax attention through a Nyström approximation on landmarks.

With ``m`` landmarks ``Q~`` and ``K~`` (means of consecutive segments of the queries and of the
keys, "segment-means" of [Xiong21] Sec. 3), softmax attention ``S V = softmax(Q K^T / sqrt(Dh)) V`` is
approximated by (the paper's Nyström form with landmarks)::

    S^ V = softmax(Q K~^T / sqrt(Dh)) · pinv(softmax(Q~ K~^T / sqrt(Dh))) · softmax(Q~ K^T / sqrt(Dh)) V
         =        F (Tq x m)         ·             A^+ (m x m)          ·         B (m x Tk) · V

evaluated right to left in time O((Tq + Tk) m Dh + m^3). The Moore-Penrose inverse ``A^+`` is
approximated by the paper's iteration (after Razavi et al. 2014)::

    Z_0 = A^T / (||A||_1 ||A||_inf),   Z_{j+1} = Z_j (13 I - A Z_j (15 I - A Z_j (7 I - A Z_j))) / 4

The paper's optional skip, a depthwise convolution of V along the sequence (one kernel per
head), is added when its weights are given.

Padding: a padded key is excluded everywhere: its column of B is exactly 0 (masked softmax), and
the key landmarks are means over real keys only. Segments are formed over the *real* positions
of each example (the r-th real key of an example with L real keys falls in segment
floor(r m / L)), so a padded batch gives its real queries the same output as the unpadded
example alone. When an example has fewer real keys than landmarks, the empty segments' landmarks
are masked out of F and A (their rows and columns of A are 0, and the pseudo-inverse keeps them
0). The same holds for query landmarks with `query_padding` (by default `key_padding` when
Tq == Tk, i.e. self-attention).

With ``m >= T`` every segment is one position, ``Q~ = Q``, ``K~ = K`` and ``F A^+ B = S S^+ S = S``:
the method is exact up to the pseudo-inverse's accuracy. The implied map ``F A^+ B`` need not
be non-negative, and its rows sum to 1 only when A is invertible and A^+ exact (then A 1 = 1
gives A^-1 1 = 1); with the iterative inverse or a singular A they do not in general.

References:
    [Xiong21] Y. Xiong, Z. Zeng, R. Chakraborty, M. Tan, G. Fung, Y. Li, V. Singh.
    Nyströmformer: A Nyström-Based Algorithm for Approximating Self-Attention. AAAI 2021.
    arXiv:2102.03902.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, InputError
from .kernels import check_kernel_qkv, check_weights_size, upcast_half

__all__ = ["segment_means", "iterative_pinv", "nystrom_attention"]

DEFAULT_LANDMARKS = 64
DEFAULT_PINV_ITERATIONS = 6


def segment_means(x: Tensor, real: Tensor, num_landmarks: int) -> tuple[Tensor, Tensor]:
    """Landmarks: means of `num_landmarks` consecutive segments of the real positions.

    Args:
        x: (B, Nh, T, Dh).
        real: (B, T) bool, ``True`` = real position.
        num_landmarks: m, >= 1.

    Returns:
        ``(landmarks, present)``: landmarks (B, Nh, m, Dh), the mean of the real positions of
        each segment (0 for an empty segment); present (B, m) bool, False for an empty segment.

    References:
        [Xiong21] Sec. 3 (segment-means landmarks).
    """
    b, nh, t, dh = x.shape
    lengths = real.sum(-1, keepdim=True)  # (B, 1)
    rank = real.long().cumsum(-1) - 1  # r-th real position, (B, T)
    segment = torch.div(rank.clamp_min(0) * num_landmarks, lengths.clamp_min(1), rounding_mode="floor")
    onehot = F.one_hot(segment, num_landmarks).to(x.dtype) * real[..., None].to(x.dtype)  # (B, T, m)
    counts = onehot.sum(1)  # (B, m)
    sums = torch.einsum("btm,bhtd->bhmd", onehot, x)
    landmarks = sums / counts.clamp_min(1)[:, None, :, None]
    return landmarks, counts > 0


def iterative_pinv(a: Tensor, n_iterations: int) -> Tensor:
    """Approximate Moore-Penrose inverse of square matrices by the iteration of [Xiong21] Sec. 3.

    Args:
        a: (..., m, m).
        n_iterations: number of steps of the iteration, >= 0 (0 gives the initial Z_0).

    Returns:
        Z, (..., m, m), an approximation of pinv(a) (0 for a zero matrix).

    Differences from the paper:
        Z_0 uses the norms of each matrix; the official code takes one maximum over the whole
        batch and all heads. A zero matrix (every landmark empty) gives Z = 0 rather than NaN.
    """
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    norm_1 = a.abs().sum(-2).amax(-1)  # max column sum, (...)
    norm_inf = a.abs().sum(-1).amax(-1)  # max row sum, (...)
    scale = (norm_1 * norm_inf).clamp_min(torch.finfo(a.dtype).tiny)
    z = a.transpose(-1, -2) / scale[..., None, None]  # Z_0
    for _ in range(n_iterations):
        az = a @ z
        z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))  # Z_{j+1}
    return z


def nystrom_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_padding: Tensor | None = None,
    causal: bool = False,
    need_weights: bool = False,
    num_landmarks: int = DEFAULT_LANDMARKS,
    pinv_iterations: int | None = DEFAULT_PINV_ITERATIONS,
    query_padding: Tensor | None = None,
    conv_weight: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Nyström approximation of softmax attention with scale Dh^-1/2 ([Xiong21] Sec. 3).

    Args:
        q: queries, (B, Nh, Tq, Dh).
        k: keys, (B, Nh, Tk, Dh).
        v: values, (B, Nh, Tk, Dv).
        key_padding: (B, Tk) bool, ``True`` = real key; padded keys contribute nothing.
        causal: must be False: landmarks mix every position, so there is no causal form.
        need_weights: also return the implied dense map ``F A^+ B`` (Tq x Tk per head).
        num_landmarks: number of landmarks m (the paper's m), >= 1; m >= T makes it exact.
        pinv_iterations: steps of the iterative pseudo-inverse (the paper uses 6); None uses
            the exact SVD-based ``torch.linalg.pinv`` instead.
        query_padding: (B, Tq) bool, ``True`` = real query, for the query landmarks; None uses
            `key_padding` when Tq == Tk (self-attention), otherwise every query.
        conv_weight: optional depthwise skip on V, (Nh, 1, K) with K odd: adds
            ``conv1d(v, kernel of head h)`` along the sequence (needs Tq == Tk); padded values
            are zeroed first.

    Returns:
        ``(out, weights)``: out (B, Nh, Tq, Dv); weights (B, Nh, Tq, Tk) with ``out = weights @ v``
        (the skip included), entries possibly negative, or None. Never NaN; a padded key's
        column is exactly 0.

    Raises:
        InputError: on inconsistent shapes or masks, ``causal=True``, or weights asked for an
            input above :data:`~attnkit.functional.kernels.MAX_WEIGHT_ENTRIES`.
        ConfigError: on a bad `num_landmarks`, `pinv_iterations` or `conv_weight`.

    Differences from the paper:
        - Segments are taken over each example's real positions, and need not be of equal
          length (lengths differ by at most one); the paper pads the sequence to a multiple of m.
        - Z_0 of the pseudo-inverse is per matrix (see :func:`iterative_pinv`).
        - Half-precision inputs are computed in float32 and cast back.
    """
    _check(q, k, v, key_padding, query_padding, causal, num_landmarks, pinv_iterations)
    b, nh, tq, dh = q.shape
    tk = k.shape[2]
    qw, kw, vw, real_k = upcast_half(q, k, v, key_padding)
    work = qw.dtype
    if query_padding is None:
        query_padding = key_padding if (key_padding is not None and tq == tk) else None
    real_q = torch.ones(b, tq, dtype=torch.bool, device=q.device) if query_padding is None else query_padding
    m = num_landmarks
    q_land, q_present = segment_means(qw, real_q, m)  # (B, Nh, m, Dh), (B, m)
    k_land, k_present = segment_means(kw, real_k, m)
    scale = dh**-0.5
    f = _masked_softmax((qw @ k_land.transpose(-1, -2)) * scale, k_present[:, None, None, :])  # (B, Nh, Tq, m)
    a = _masked_softmax((q_land @ k_land.transpose(-1, -2)) * scale, k_present[:, None, None, :])  # (B, Nh, m, m)
    a = a * q_present[:, None, :, None].to(work)  # empty query landmarks: zero rows
    bmat = _masked_softmax((q_land @ kw.transpose(-1, -2)) * scale, real_k[:, None, None, :])  # (B, Nh, m, Tk)
    bmat = bmat * q_present[:, None, :, None].to(work)
    a_pinv = torch.linalg.pinv(a) if pinv_iterations is None else iterative_pinv(a, pinv_iterations)
    out = f @ (a_pinv @ (bmat @ vw))  # F A^+ B V, right to left: (B, Nh, Tq, Dv)
    if conv_weight is not None:
        out = out + _conv_skip(vw, real_k, conv_weight.to(work), tq)
    weights = None
    if need_weights:
        check_weights_size(q, k)
        weights = f @ a_pinv @ bmat  # (B, Nh, Tq, Tk)
        if conv_weight is not None:
            weights = weights + _conv_matrix(conv_weight.to(work), tk) * real_k[:, None, None, :].to(work)
        weights = weights.to(q.dtype)
    return out.to(q.dtype), weights


def _check(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_padding: Tensor | None,
    query_padding: Tensor | None,
    causal: bool,
    num_landmarks: int,
    pinv_iterations: int | None,
) -> None:
    if causal:
        raise InputError(
            "nystrom attention has no causal form (its landmarks average every position); "
            "use a causal mechanism such as performer or dense attention"
        )
    b, nh, tq, dh = check_kernel_qkv(q, k, v)
    for name, pad, t in (("key_padding", key_padding, k.shape[2]), ("query_padding", query_padding, tq)):
        if pad is not None and (pad.dtype != torch.bool or tuple(pad.shape) != (b, t)):
            raise InputError(
                f"{name} must be a bool (B, T) = ({b}, {t}) tensor, True = real position; got "
                f"{pad.dtype} {tuple(pad.shape)}"
            )
    if isinstance(num_landmarks, bool) or not isinstance(num_landmarks, int) or num_landmarks < 1:
        raise ConfigError(f"nystrom num_landmarks must be a positive int, got {num_landmarks!r}")
    if pinv_iterations is not None and (
        isinstance(pinv_iterations, bool) or not isinstance(pinv_iterations, int) or pinv_iterations < 0
    ):
        raise ConfigError(f"nystrom pinv_iterations must be an int >= 0 or None (exact), got {pinv_iterations!r}")


def _masked_softmax(scores: Tensor, keep: Tensor) -> Tensor:
    """Softmax over the last dim with `keep` False entries exactly 0; a row with none kept is 0."""
    scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    return weights.masked_fill(~keep, 0.0)


def _conv_skip(v: Tensor, real: Tensor, weight: Tensor, tq: int) -> Tensor:
    """Depthwise convolution of V along the sequence, one kernel per head (the skip of [Xiong21])."""
    nh, kernel = v.shape[1], weight.shape[-1]
    if tuple(weight.shape) != (nh, 1, kernel) or kernel % 2 == 0 or tq != v.shape[2]:
        raise ConfigError(
            f"nystrom conv_weight must be (Nh={nh}, 1, K) with K odd and Tq == Tk, got {tuple(weight.shape)} "
            f"with Tq={tq}, Tk={v.shape[2]}"
        )
    v = v * real[:, None, :, None].to(v.dtype)  # (B, Nh, T, Dv)
    b, _, t, dv = v.shape
    x = v.permute(0, 3, 1, 2).reshape(b * dv, nh, t)  # (B Dv, Nh, T)
    y = F.conv1d(x, weight, padding=kernel // 2, groups=nh)  # cross-correlation, as torch's conv
    return y.reshape(b, dv, nh, t).permute(0, 2, 3, 1)  # (B, Nh, T, Dv)


def _conv_matrix(weight: Tensor, t: int) -> Tensor:
    """The (Nh, T, T) banded matrix of :func:`_conv_skip`: out_i += sum_j w[j - i + K // 2] v_j."""
    nh, _, kernel = weight.shape
    pos = torch.arange(t, device=weight.device)
    offset = pos[None, :] - pos[:, None] + kernel // 2  # (T, T)
    inside = (offset >= 0) & (offset < kernel)
    taps = weight[:, 0, offset.clamp(0, kernel - 1)]  # (Nh, T, T)
    return taps * inside.to(weight.dtype)
