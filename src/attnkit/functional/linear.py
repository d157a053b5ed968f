"""Linear attention with the feature map elu(x) + 1, and its chunked causal form [Katharopoulos20].

Softmax attention's similarity exp(q·k / sqrt(Dh)) is replaced by phi(q)·phi(k) with
phi(x) = elu(x) + 1 (Sec. 3.2.1, a positive feature map of the same width Dh), so that

    out_i = phi(q_i)^T S / (phi(q_i)^T z),   S = sum_j phi(k_j) v_j^T (Dh x Dv),   z = sum_j phi(k_j)

(Eq. 5-6): O(T·Dh·Dv) instead of O(T^2). The sums run over the real keys (a padded key's phi(k) is
set to 0) and, when causal, over j <= i only (Eq. 8-10: S_i, z_i are prefix sums). The implied
attention map is A_ij = phi(q_i)·phi(k_j) / sum_j' phi(q_i)·phi(k_j') over the allowed keys: rows
are non-negative and sum to 1, as softmax rows do.

The causal form is computed in chunks of C positions: inside a chunk the quadratic form with a
causal mask (C x C scores), across chunks the prefix state S, z of all earlier chunks (one
(Dh, Dv) matrix per chunk). Memory O(T·C + T/C·Dh·Dv) per head, instead of the O(T·Dh·Dv) of the
paper's per-position cumulative sums or the O(T^2) of the quadratic form.

References:
    [Katharopoulos20] A. Katharopoulos, A. Vyas, N. Pappas, F. Fleuret. Transformers are RNNs:
    Fast Autoregressive Transformers with Linear Attention. ICML 2020. arXiv:2006.16236.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .kernels import check_weights_size, key_mask

__all__ = ["elu_feature_map", "linear_attention"]

DEFAULT_CHUNK = 64


def elu_feature_map(x: Tensor) -> Tensor:
    """phi(x) = elu(x) + 1 elementwise [Katharopoulos20] Eq. 7: positive, (..., Dh) -> (..., Dh)."""
    return F.elu(x) + 1


def linear_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_padding: Tensor | None,
    causal: bool,
    need_weights: bool,
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[Tensor, Tensor | None]:
    """Linear attention [Katharopoulos20] Eq. 6 (bidirectional) and Eq. 8-10 (causal, in chunks).

    Args:
        q: queries (B, Nh, Tq, Dh).
        k: keys (B, Nh, Tk, Dh).
        v: values (B, Nh, Tk, Dv).
        key_padding: (B, Tk) bool, True = real key, or None.
        causal: key j <= i only; needs Tq == Tk.
        need_weights: also return the implied map (B, Nh, Tq, Tk) (module docstring).
        chunk_size: C >= 1, positions per chunk of the causal form (no effect on the numbers
            beyond rounding; larger chunks trade memory for fewer sequential steps).

    Returns:
        out (B, Nh, Tq, Dv) and weights (B, Nh, Tq, Tk) or None. A query with no real key
        (or, causal, none before it) gets 0.

    Raises:
        ValueError: if `chunk_size` < 1, or `causal` with Tq != Tk.
        InputError: for weights of more than MAX_WEIGHT_ENTRIES entries.

    Differences from the paper:
        no eps in the denominator (the paper's code adds 1e-6): phi > 0, so the denominator is
        positive whenever a real key is allowed, and a row with none gives 0 instead of 0 / eps;
        the causal sums are computed per chunk (the paper uses per-position sums, or its CUDA
        kernel), which gives the same numbers.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"causal linear attention needs Tq == Tk, got Tq={q.shape[-2]}, Tk={k.shape[-2]}")
    if need_weights:
        check_weights_size(q, k)
    fq, fk = elu_feature_map(q), elu_feature_map(k)  # (B, Nh, T, Dh)
    if key_padding is not None:
        fk = fk * key_padding[:, None, :, None].to(fk.dtype)  # padded keys contribute nothing
    if causal:
        num, den = _causal_chunked(fq, fk, v, chunk_size)
    else:
        state = fk.transpose(-1, -2) @ v  # (B, Nh, Dh, Dv)   S, Eq. 6
        num = fq @ state  # (B, Nh, Tq, Dv)
        den = fq @ fk.sum(dim=-2)[..., None]  # (B, Nh, Tq, 1)   phi(q_i)^T z
    out = _divide(num, den)
    weights = None
    if need_weights:
        mask = key_mask(key_padding, q.shape[-2], k.shape[-2], causal=causal, device=q.device)
        sims = fq @ fk.transpose(-1, -2)  # (B, Nh, Tq, Tk)
        sims = sims if mask is None else sims * mask
        weights = _divide(sims, sims.sum(dim=-1, keepdim=True))
    return out, weights


def _causal_chunked(fq: Tensor, fk: Tensor, v: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """Numerators (B, Nh, T, Dv) and denominators (B, Nh, T, 1) of causal linear attention."""
    t = fq.shape[-2]
    n = math.ceil(t / c)
    extra = n * c - t
    qc = F.pad(fq, (0, 0, 0, extra)).unflatten(2, (n, c))  # (B, Nh, n, C, Dh)
    kc = F.pad(fk, (0, 0, 0, extra)).unflatten(2, (n, c))  # padded keys: phi = 0
    vc = F.pad(v, (0, 0, 0, extra)).unflatten(2, (n, c))  # (B, Nh, n, C, Dv)
    tri = torch.ones(c, c, dtype=torch.bool, device=fq.device).tril()
    sims = (qc @ kc.transpose(-1, -2)) * tri  # (B, Nh, n, C, C): within the chunk, j <= i
    states = kc.transpose(-1, -2) @ vc  # (B, Nh, n, Dh, Dv): each chunk's sum phi(k) v^T
    sums = kc.sum(dim=-2)  # (B, Nh, n, Dh)
    before = torch.cumsum(F.pad(states, (0, 0, 0, 0, 1, 0))[:, :, :-1], dim=2)  # S of the chunks before, Eq. 9
    z_before = torch.cumsum(F.pad(sums, (0, 0, 1, 0))[:, :, :-1], dim=2)  # (B, Nh, n, Dh)   z, Eq. 10
    num = sims @ vc + qc @ before  # (B, Nh, n, C, Dv)
    den = sims.sum(dim=-1, keepdim=True) + qc @ z_before[..., None]  # (B, Nh, n, C, 1)
    return num.flatten(2, 3)[:, :, :t], den.flatten(2, 3)[:, :, :t]


def _divide(num: Tensor, den: Tensor) -> Tensor:
    """num / den, and 0 where den == 0 (a row without keys), with finite gradients."""
    has = den > 0
    return num / torch.where(has, den, torch.ones_like(den)) * has
