"""Score (energy / compatibility) functions: the first of the three stages of attention.

Every function maps queries (..., Tq, Dq) and keys (..., Tk, Dk) to unnormalised scores
(..., Tq, Tk). Functions that need weights take them as arguments; the modules in
:mod:`attnkit.nn` own them as parameters.

References:
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Graves14] A. Graves, G. Wayne, I. Danihelka. Neural Turing Machines. 2014. arXiv:1410.5401.
    [Tu16] Z. Tu, Z. Lu, Y. Liu, X. Liu, H. Li. Modeling Coverage for Neural Machine Translation.
    ACL 2016. arXiv:1601.04811.
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "dot",
    "scaled_dot",
    "general",
    "additive",
    "location",
    "location_for_keys",
    "cosine",
    "location_features",
    "location_aware",
]


def _check_width(q: Tensor, k: Tensor, what: str) -> None:
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"{what} needs queries and keys of the same width, got Dq={q.shape[-1]} and "
            f"Dk={k.shape[-1]}; use the 'general' or 'additive' score for different widths"
        )


def dot(q: Tensor, k: Tensor) -> Tensor:
    """Dot-product score e_ij = q_i · k_j [Luong15] Eq. 8 ("dot").

    Args:
        q: queries, (..., Tq, D).
        k: keys, (..., Tk, D); leading dims broadcast against `q`.

    Returns:
        Scores (..., Tq, Tk).

    Raises:
        ValueError: if `q` and `k` disagree in their last dimension.
    """
    _check_width(q, k, "the dot score")
    return q @ k.transpose(-2, -1)


def scaled_dot(q: Tensor, k: Tensor, scale: float | None = None) -> Tensor:
    """Dot-product compatibility of every query with every key, times `scale`.

    Args:
        q: queries, (..., Tq, Dh).
        k: keys, (..., Tk, Dh); leading dims broadcast against `q`.
        scale: dimensionless factor on the dot products. Defaults to Dh ** -0.5.

    Returns:
        Unnormalised scores (logits), (..., Tq, Tk).

    Raises:
        ValueError: if `q` and `k` disagree in their last dimension.

    References:
        [Vaswani17] Sec. 3.2.1, Eq. 1.
    """
    _check_width(q, k, "the scaled dot score")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    return (q * scale) @ k.transpose(-2, -1)


def general(q: Tensor, k: Tensor, weight: Tensor) -> Tensor:
    """Bilinear ("general") score e_ij = q_i^T W_a k_j [Luong15] Eq. 8.

    Args:
        q: queries, (..., Tq, Dq).
        k: keys, (..., Tk, Dk).
        weight: W_a, (Dq, Dk).

    Returns:
        Scores (..., Tq, Tk).

    Raises:
        ValueError: if `weight` is not (Dq, Dk).
    """
    if weight.shape != (q.shape[-1], k.shape[-1]):
        raise ValueError(
            f"general score weight must be (Dq, Dk) = ({q.shape[-1]}, {k.shape[-1]}), got {tuple(weight.shape)}"
        )
    return q @ (k @ weight.transpose(0, 1)).transpose(-2, -1)  # W_a k_j, then dot with q_i


def additive(q_proj: Tensor, k_proj: Tensor, energy: Tensor, pair_term: Tensor | None = None) -> Tensor:
    """Additive (concat, "Bahdanau") score e_ij = v_a^T tanh(W_a q_i + U_a k_j [+ x_ij]).

    The projections are passed in already applied so that U_a k_j, which does not depend on
    the decoder step, is computed once per source sentence [Bahdanau15] App. A.1.2.

    Args:
        q_proj: projected queries W_a q_i (plus any bias), (..., Tq, Da).
        k_proj: projected keys U_a k_j, (..., Tk, Da).
        energy: the vector v_a, (Da,).
        pair_term: optional extra term x_ij inside the tanh that depends on the pair,
            (..., Tq, Tk, Da), e.g. the coverage term V_a C_{i-1,j} of [Tu16] Eq. 7.

    Returns:
        Scores (..., Tq, Tk).

    Raises:
        ValueError: if the three widths Da differ.

    References:
        [Bahdanau15] Eq. 6 and App. A.1.2; [Luong15] Eq. 8 ("concat").
    """
    if energy.dim() != 1 or not (q_proj.shape[-1] == k_proj.shape[-1] == energy.shape[-1]):
        raise ValueError(
            f"additive score needs q_proj (..., Tq, Da), k_proj (..., Tk, Da) and energy (Da,), "
            f"got {tuple(q_proj.shape)}, {tuple(k_proj.shape)} and {tuple(energy.shape)}"
        )
    hidden = q_proj.unsqueeze(-2) + k_proj.unsqueeze(-3)  # (..., Tq, Tk, Da)
    if pair_term is not None:
        hidden = hidden + pair_term
    return torch.tanh(hidden) @ energy  # (..., Tq, Tk)   Eq. 6


def location(q: Tensor, weight: Tensor, n_keys: int) -> Tensor:
    """Location-based score e_t = W_a h_t [Luong15] Eq. 9: depends on the query only.

    Args:
        q: queries, (..., Tq, Dq).
        weight: W_a, (Tmax, Dq): one row per source position, Tmax >= Tk.
        n_keys: number of source positions Tk to score.

    Returns:
        Scores (..., Tq, Tk), the first `n_keys` rows of W_a h_t.

    Raises:
        ValueError: if `n_keys` is negative or exceeds the number of positions W_a was built
            for, or if W_a's width is not Dq.
    """
    if weight.dim() != 2 or weight.shape[1] != q.shape[-1]:
        raise ValueError(f"location score weight must be (Tmax, Dq) with Dq={q.shape[-1]}, got {tuple(weight.shape)}")
    if n_keys < 0:
        raise ValueError(f"n_keys must be >= 0, got {n_keys}")
    if n_keys > weight.shape[0]:
        raise ValueError(
            f"location score was built for at most {weight.shape[0]} source positions, got "
            f"{n_keys}; increase max_source_len"
        )
    return q @ weight[:n_keys].transpose(0, 1)


def location_for_keys(q: Tensor, k: Tensor, weight: Tensor) -> Tensor:
    """:func:`location` in the common ``(q, k, **kwargs)`` form: scores Tk = ``k.shape[-2]``
    positions and otherwise ignores `k`. This is the form :func:`attnkit.functional.attend` calls.

    Args:
        q: queries, (..., Tq, Dq).
        k: keys, (..., Tk, Dk); only Tk is used.
        weight: W_a, (Tmax, Dq), Tmax >= Tk.

    Returns:
        Scores (..., Tq, Tk).

    Raises:
        ValueError: as :func:`location`.
    """
    return location(q, weight, k.shape[-2])


def cosine(q: Tensor, k: Tensor, eps: float = 1e-8) -> Tensor:
    """Cosine similarity e_ij = q_i·k_j / (|q_i| |k_j|), in [-1, 1] [Graves14] Eq. 6.

    Args:
        q: queries, (..., Tq, D).
        k: keys, (..., Tk, D).
        eps: lower bound on each norm, to avoid division by zero.

    Returns:
        Scores (..., Tq, Tk).

    Raises:
        ValueError: if `q` and `k` disagree in their last dimension.
    """
    _check_width(q, k, "the cosine score")
    return F.normalize(q, dim=-1, eps=eps) @ F.normalize(k, dim=-1, eps=eps).transpose(-2, -1)


def location_features(prev_weights: Tensor, filters: Tensor) -> Tensor:
    """Convolution features of the previous alignment, f_i = F * alpha_{i-1} [Chorowski15] Sec. 2.2.

    Feature l at key j is sum_m F[l, m] alpha_{i-1, j + m - r // 2}, with alpha_{i-1} taken as 0
    outside [0, Tk): every key gets Nf features from the r previous weights centred on it.

    Args:
        prev_weights: the previous step's alignment weights alpha_{i-1}, (..., Tq, Tk).
        filters: F, (Nf, r): Nf filters of odd width r (keys).

    Returns:
        f, (..., Tq, Tk, Nf).

    Raises:
        ValueError: if `filters` is not 2-D with an odd width.

    Differences from the paper: a cross-correlation (``torch.nn.functional.conv1d``), i.e. the
    paper's convolution with F flipped; with learned filters the two are the same family.
    """
    if filters.dim() != 2 or filters.shape[1] % 2 == 0:
        raise ValueError(f"location filters must be (Nf, r) with an odd width r, got {tuple(filters.shape)}")
    lead, tk = prev_weights.shape[:-1], prev_weights.shape[-1]
    flat = prev_weights.reshape(-1, 1, tk)  # (N, 1, Tk)
    conv = F.conv1d(flat, filters.unsqueeze(1), padding=filters.shape[1] // 2)  # (N, Nf, Tk)
    return conv.transpose(1, 2).reshape(*lead, tk, filters.shape[0])  # (..., Tq, Tk, Nf)


def location_aware(
    q_proj: Tensor, k_proj: Tensor, *, prev_weights: Tensor, filters: Tensor, loc_proj: Tensor, energy: Tensor
) -> Tensor:
    """Location-aware (hybrid) score e_ij = w^T tanh(W s_{i-1} + V h_j + U f_ij + b),
    f_i = F * alpha_{i-1} [Chorowski15] Sec. 2.1-2.2 (Eqs. 5-9): the additive score of a content
    term and the convolution features of the previous step's weights.

    Args:
        q_proj: projected queries W s_{i-1} (plus any bias b), (..., Tq, Da).
        k_proj: projected keys V h_j, (..., Tk, Da).
        prev_weights: alpha_{i-1}, (..., Tq, Tk).
        filters: F, (Nf, r), r odd (see :func:`location_features`).
        loc_proj: U, (Da, Nf).
        energy: w, (Da,).

    Returns:
        Scores (..., Tq, Tk).

    Raises:
        ValueError: if the widths disagree, `filters` has an even width, or `prev_weights` is not
            (..., Tq, Tk).

    Differences from the paper: the sharpening and smoothing of Sec. 2.3 are not part of the
    score (choose them as the normaliser).
    """
    tq, tk = q_proj.shape[-2], k_proj.shape[-2]
    if prev_weights.shape[-2:] != (tq, tk):
        raise ValueError(f"prev_weights must be (..., Tq, Tk) = (..., {tq}, {tk}), got {tuple(prev_weights.shape)}")
    if loc_proj.dim() != 2 or loc_proj.shape != (energy.shape[-1], filters.shape[0]):
        raise ValueError(
            f"loc_proj (U) must be (Da, Nf) = ({energy.shape[-1]}, {filters.shape[0]}), got {tuple(loc_proj.shape)}"
        )
    feats = location_features(prev_weights, filters)  # (..., Tq, Tk, Nf)   f_i = F * alpha_{i-1}
    return additive(q_proj, k_proj, energy, feats @ loc_proj.transpose(0, 1))  # + U f_ij inside the tanh
