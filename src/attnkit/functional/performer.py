"""Performer FAVOR+ attention: softmax attention estimated with positive orthogonal random features.

Dense softmax attention [Choromanski21] Eq. 1 is ``D^-1 A V`` with ``A = exp(Q K^T / sqrt(Dh))``
and ``D = diag(A 1)``. FAVOR+ writes the softmax kernel as an expectation (Lemma 1)::

    exp(x . y) = E_w[ exp(w . x - |x|^2 / 2) exp(w . y - |y|^2 / 2) ],   w ~ N(0, I_Dh)

and replaces it by the Monte Carlo estimate ``phi(x) . phi(y)`` with ``M`` positive random
features ``phi(x) = exp(W x - |x|^2 / 2) / sqrt(M)`` (the rows of W orthogonal in blocks of Dh,
Sec. 2.4, with norms drawn from the chi(Dh) law so that each row is still N(0, I)). With
``x = q / Dh^(1/4)`` and ``y = k / Dh^(1/4)`` the estimate is unbiased for ``exp(q . k / sqrt(Dh))``,
and attention becomes linear in the length (Sec. 2.2)::

    bidirectional:  out_i = phi(q_i) (sum_j phi(k_j) v_j^T) / phi(q_i) . (sum_j phi(k_j))
    causal:         the sums run over j <= i (prefix sums), computed here chunk by chunk

Every weight of the implied map ``phi(q_i) . phi(k_j) / sum_j' phi(q_i) . phi(k_j')`` is
non-negative and each row sums to 1 over the real keys it may see (positivity is what makes
the normaliser safe, Sec. 2.3).

References:
    [Choromanski21] K. Choromanski, V. Likhosherstov, D. Dohan, X. Song, A. Gane, T. Sarlos,
    P. Hawkins, J. Davis, A. Mohiuddin, L. Kaiser, D. Belanger, L. Colwell, A. Weller.
    Rethinking Attention with Performers. ICLR 2021. arXiv:2009.14794.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ConfigError, InputError
from .kernels import check_kernel_qkv, check_weights_size, upcast_half

__all__ = ["draw_orthogonal_features", "positive_random_features", "performer_attention"]

DEFAULT_FEATURES = 256
CAUSAL_CHUNK = 128  # queries per step of the causal prefix sum; memory O(B Nh chunk^2 + B Nh M Dv)


def draw_orthogonal_features(
    num_features: int,
    dim: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw the projection W of FAVOR+: M rows, orthogonal within each block of Dh rows.

    Each block is the Q factor of a Gaussian (Dh, Dh) matrix with the signs fixed so that it is
    Haar-distributed; each row is then rescaled by the norm of an independent N(0, I_Dh) vector,
    so every row is marginally N(0, I_Dh) and the kernel estimate stays unbiased. Drawn on the
    CPU in float64 (the same features for a seed on every device), then moved.

    Args:
        num_features: number of random features M, >= 1.
        dim: head width Dh, >= 1.
        generator: CPU random generator; None uses torch's global one.
        dtype: dtype of the result.
        device: device of the result.

    Returns:
        Projection W, (M, Dh).

    Raises:
        ConfigError: if `num_features` or `dim` is not a positive int.

    References:
        [Choromanski21] Sec. 2.4 (orthogonal random features), Lemma 1.
    """
    for name, value in (("num_features", num_features), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"performer {name} must be a positive int, got {value!r}")
    n_blocks = math.ceil(num_features / dim)
    gauss = torch.randn(n_blocks, dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss)  # (n_blocks, Dh, Dh), orthonormal columns
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    q = q * torch.where(signs == 0, 1.0, signs)[:, None, :]  # Haar-distributed
    w = q.transpose(-1, -2).reshape(n_blocks * dim, dim)[:num_features]  # (M, Dh), rows orthonormal per block
    norms = torch.randn(num_features, dim, generator=generator, dtype=torch.float64).norm(dim=-1)
    return (w * norms[:, None]).to(dtype=dtype, device=device)


def positive_random_features(x: Tensor, projection: Tensor) -> Tensor:
    """The positive random features ``phi(x) = exp(W x - |x|^2 / 2) / sqrt(M)`` (Lemma 1).

    Unstabilised: ``phi(x) . phi(y)`` is an unbiased estimate of ``exp(x . y)`` but may overflow
    for large inputs; :func:`performer_attention` uses a shifted form whose constants cancel.

    Args:
        x: inputs, (..., Dh), already scaled (Performer's attention uses ``q / Dh^(1/4)``).
        projection: W, (M, Dh), e.g. from :func:`draw_orthogonal_features`.

    Returns:
        Features, (..., M), all positive.

    References:
        [Choromanski21] Lemma 1 (positive random features for the softmax kernel).
    """
    m = projection.shape[0]
    logits = x @ projection.T - (x * x).sum(-1, keepdim=True) / 2  # (..., M)
    return torch.exp(logits) / math.sqrt(m)


def performer_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_padding: Tensor | None = None,
    causal: bool = False,
    need_weights: bool = False,
    num_features: int = DEFAULT_FEATURES,
    redraw: bool = False,
    seed: int = 0,
    projection: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """FAVOR+ estimate of softmax attention with scale Dh^-1/2, in time linear in Tq + Tk.

    Args:
        q: queries, (B, Nh, Tq, Dh).
        k: keys, (B, Nh, Tk, Dh).
        v: values, (B, Nh, Tk, Dv).
        key_padding: (B, Tk) bool, ``True`` = real key; padded keys get exactly zero weight.
        causal: query i sees keys j <= i + (Tk - Tq) (needs Tk >= Tq), by prefix sums.
        need_weights: also return the implied dense map (Tq x Tk per head: small inputs only).
        num_features: number of random features M (the paper's m), >= 1.
        redraw: False (default): the fixed features drawn from `seed`, the same on every call,
            so the kernel is a deterministic function of its options; True: new features from
            torch's global generator on every call (the paper's redrawing during training,
            reproducible under ``torch.manual_seed``).
        seed: seed of the fixed features (used when ``redraw=False``).
        projection: explicit W, (M, Dh); overrides `num_features`, `redraw` and `seed` (for a
            module that owns its features; not a config option).

    Returns:
        ``(out, weights)``: out (B, Nh, Tq, Dv); weights (B, Nh, Tq, Tk), non-negative, rows
        summing to 1 over the visible real keys (0 for a query that sees none), or None.
        A query that sees no real key gets out = 0, never NaN.

    Raises:
        InputError: on inconsistent shapes, a bad `key_padding`, causal with Tk < Tq, or weights
            asked for an input above :data:`~attnkit.functional.kernels.MAX_WEIGHT_ENTRIES`.
        ConfigError: on a bad `num_features` or a `projection` of the wrong width.

    References:
        [Choromanski21] Eqs. 1-2 (what is estimated), Lemma 1, Sec. 2.2 (linear form and prefix
        sums), Sec. 2.4 (orthogonal features).

    Differences from the paper:
        - The exponents are shifted before exp (per query by its largest feature logit, for the
          keys by one constant over all real keys, features and positions of a head) for
          stability; the shifts cancel in the ratio, so the estimator is the paper's. The shifts
          carry no gradient (they cancel exactly). Under ``causal`` the key shift spans every
          position, as in the official code: a much larger later key can make earlier features
          underflow in float32 (never NaN; float64 has the range to spare).
        - No epsilon is added to the features; the normaliser is only clamped away from 0, so a
          query with no real key gives 0 rather than a division by zero.
        - Half-precision inputs are computed in float32 and cast back.
        - The paper redraws the features during training; here that is ``redraw=True``, and the
          default is one fixed draw (``seed``), shared by every layer that uses the same options.
        - The causal prefix sum is evaluated in chunks of ``CAUSAL_CHUNK`` queries (quadratic
          inside a chunk, a running state across chunks): the same sums in another order.
    """
    b, nh, tq, dh = _check_shapes(q, k, v, key_padding, causal)
    if projection is None:
        gen = None if redraw else torch.Generator().manual_seed(seed)
        projection = draw_orthogonal_features(num_features, dh, generator=gen)
    if projection.dim() != 2 or projection.shape[1] != dh:
        raise ConfigError(f"performer projection must be (M, Dh={dh}), got {tuple(projection.shape)}")
    qw, kw, vw, real = upcast_half(q, k, v, key_padding)
    work = qw.dtype
    w = projection.to(device=q.device, dtype=work)
    tk = k.shape[2]
    phi_q, phi_k = _features(qw, kw, w, real)  # (B, Nh, Tq, M), (B, Nh, Tk, M)
    if causal:
        out, denom = _causal_sums(phi_q, phi_k, vw)
    else:
        out = phi_q @ (phi_k.transpose(-1, -2) @ vw)  # (B, Nh, Tq, Dv)
        denom = phi_q @ phi_k.sum(-2, keepdim=True).transpose(-1, -2)  # (B, Nh, Tq, 1)
    tiny = torch.finfo(work).tiny
    out = out / denom.clamp_min(tiny)
    weights = None
    if need_weights:
        check_weights_size(q, k)
        scores = phi_q @ phi_k.transpose(-1, -2)  # (B, Nh, Tq, Tk)
        if causal:
            visible = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
            scores = scores.masked_fill(~visible, 0.0)
        weights = (scores / scores.sum(-1, keepdim=True).clamp_min(tiny)).to(q.dtype)
    return out.to(q.dtype), weights


def _check_shapes(q: Tensor, k: Tensor, v: Tensor, key_padding: Tensor | None, causal: bool) -> tuple[int, ...]:
    b, nh, tq, dh = check_kernel_qkv(q, k, v)
    if key_padding is not None and (key_padding.dtype != torch.bool or tuple(key_padding.shape) != (b, k.shape[2])):
        raise InputError(
            f"key_padding must be a bool (B, Tk) = ({b}, {k.shape[2]}) tensor, True = real key; got "
            f"{key_padding.dtype} {tuple(key_padding.shape)}"
        )
    if causal and k.shape[2] < tq:
        raise InputError(
            f"causal attention needs Tk >= Tq (queries are the last Tq keys), got Tq={tq}, Tk={k.shape[2]}"
        )
    return b, nh, tq, dh


def _features(q: Tensor, k: Tensor, w: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """Shifted positive features; padded keys get exactly 0 (the shifts cancel in the ratio)."""
    dh = q.shape[-1]
    q = q * dh**-0.25
    k = k * dh**-0.25
    lq = q @ w.T - (q * q).sum(-1, keepdim=True) / 2  # (B, Nh, Tq, M)
    lk = k @ w.T - (k * k).sum(-1, keepdim=True) / 2  # (B, Nh, Tk, M)
    lq = lq - lq.amax(-1, keepdim=True).detach()  # per-query shift
    keep = real[:, None, :, None]  # (B, 1, Tk, 1)
    floor = torch.finfo(lk.dtype).min
    shift = lk.detach().masked_fill(~keep, floor).amax(dim=(-2, -1), keepdim=True)  # (B, Nh, 1, 1)
    shift = shift.clamp_min(floor / 2)  # a head with no real key: any finite shift
    lk = (lk - shift).masked_fill(~keep, floor)  # exp -> exactly 0 for padded keys
    m = w.shape[0]
    return torch.exp(lq) / math.sqrt(m), torch.exp(lk) / math.sqrt(m)


def _causal_sums(phi_q: Tensor, phi_k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Numerator (B, Nh, Tq, Dv) and normaliser (B, Nh, Tq, 1) of the causal estimator."""
    tq, tk = phi_q.shape[2], phi_k.shape[2]
    start = tk - tq  # keys before the first query: seen by every query
    state = phi_k[:, :, :start].transpose(-1, -2) @ v[:, :, :start]  # (B, Nh, M, Dv)
    z = phi_k[:, :, :start].sum(-2)  # (B, Nh, M)
    outs, denoms = [], []
    for lo in range(0, tq, CAUSAL_CHUNK):
        hi = min(lo + CAUSAL_CHUNK, tq)
        fq, fk, vc = phi_q[:, :, lo:hi], phi_k[:, :, start + lo : start + hi], v[:, :, start + lo : start + hi]
        local = (fq @ fk.transpose(-1, -2)).tril()  # (B, Nh, C, C): j <= i inside the chunk
        outs.append(fq @ state + local @ vc)
        denoms.append(fq @ z.unsqueeze(-1) + local.sum(-1, keepdim=True))
        state = state + fk.transpose(-1, -2) @ vc
        z = z + fk.sum(-2)
    return torch.cat(outs, dim=2), torch.cat(denoms, dim=2)
