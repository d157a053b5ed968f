"""Attention rollout: how much each input token reaches each position through a stack of layers.

References:
    [Abnar20] S. Abnar, W. Zuidema. Quantifying Attention Flow in Transformers. ACL 2020.
    arXiv:2005.00928.
    [Gildenblat20] J. Gildenblat. vit-explain: head fusion and discarding of the lowest
    attentions. Software, GitHub jacobgil/vit-explain, 2020.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["HEAD_FUSIONS", "attention_rollout"]

HEAD_FUSIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "mean": lambda w: w.mean(dim=1),
    "max": lambda w: w.amax(dim=1),
    "min": lambda w: w.amin(dim=1),
}


def attention_rollout(
    weights: Sequence[Tensor], *, head_fusion: str = "mean", residual: bool = True, discard_ratio: float = 0.0
) -> Tensor:
    """Roll attention out through the layers, first to last [Abnar20] Sec. 3 ("attention rollout").

    For each layer l: fuse the heads ((B, Nh, T, T) -> (B, T, T) by `head_fusion`; a (B, T, T)
    map is taken as is); zero the `discard_ratio` share of smallest weights in each row; with
    `residual`, A_l = 0.5 W_l + 0.5 I (the identity stands for the residual connection); and
    divide each row by its sum. The rollout is R = A_L ... A_2 A_1, so R[b, i, j] is how much
    input token j reaches position i after the last layer (the CLS token's row is R[:, 0]).

    Args:
        weights: one attention map per layer, first layer first, each (B, Nh, T, T) or (B, T, T)
            with rows that sum to 1 (query i's weights over the keys j).
        head_fusion: "mean", "max" or "min" over the heads.
        residual: add the identity for the residual connection (0.5 W + 0.5 I).
        discard_ratio: share in [0, 1) of each row's weights set to zero (the floor of
            `discard_ratio` * T smallest per row, ties broken by ``torch.topk``) before the
            residual is added.

    Returns:
        The rollout R, (B, T, T); its rows sum to 1 (a row whose weights were all zero, possible
        only without `residual`, stays zero).

    Raises:
        ValueError: for an empty `weights`, a map that is not 3-D or 4-D or not square, maps of
            different shapes after head fusion, an unknown `head_fusion`, or `discard_ratio`
            outside [0, 1).

    Differences from the paper:
        head fusion and discarding follow [Gildenblat20], not the paper (which averages the
        heads). Unlike that implementation we discard per row rather than over the whole
        matrix and protect no column: it never discards the flat index 0 (CLS to CLS) so as
        to keep the class token; here a row keeps its largest weights, whichever tokens.
    """
    if len(weights) == 0:
        raise ValueError("weights is empty; pass one attention map per layer, first layer first")
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"unknown head_fusion {head_fusion!r}; choose one of: {', '.join(HEAD_FUSIONS)}")
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    rollout: Tensor | None = None
    for index, layer in enumerate(weights):
        a = _fused_layer(layer, index, head_fusion)  # (B, T, T)
        if rollout is not None and a.shape != rollout.shape:
            raise ValueError(
                f"weights[{index}] fuses to {tuple(a.shape)} but weights[0] to "
                f"{tuple(rollout.shape)}; every layer must have the same B and T"
            )
        a = _discard_smallest(a, discard_ratio)
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = a / a.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)  # rows sum to 1
        rollout = a if rollout is None else a @ rollout  # A_l (A_{l-1} ... A_1)
    assert rollout is not None
    return rollout


def _fused_layer(layer: Tensor, index: int, head_fusion: str) -> Tensor:
    """One layer's map as (B, T, T): heads fused for (B, Nh, T, T), as is for (B, T, T)."""
    if layer.dim() not in (3, 4) or layer.shape[-1] != layer.shape[-2]:
        raise ValueError(
            f"weights[{index}] must be a square attention map (B, Nh, T, T) or (B, T, T), got {tuple(layer.shape)}"
        )
    return HEAD_FUSIONS[head_fusion](layer) if layer.dim() == 4 else layer


def _discard_smallest(a: Tensor, ratio: float) -> Tensor:
    """`a` (B, T, T) with the floor(ratio * T) smallest entries of each row set to zero."""
    n = int(ratio * a.shape[-1])
    if n == 0:
        return a
    smallest = a.topk(n, dim=-1, largest=False).indices  # (B, T, n)
    return a.scatter(-1, smallest, 0.0)
