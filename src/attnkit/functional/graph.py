"""Attention over the edges of a graph: per-node softmax of edge scores and the weighted sum of messages.

A graph of N nodes is given by ``edge_index`` (2, E), int64, in the convention of PyTorch
Geometric: row 0 holds the **source** j and row 1 the **target** i of each edge, so messages
flow j -> i and node i attends over its incoming edges, its neighbourhood N_i. Edges are not
deduplicated; an edge listed twice counts twice.

The two stages of graph attention mirror the dense ones: :func:`edge_softmax` normalises the
scores e_ij of the edges into each target i (the alignment stage, [Velickovic18] Eq. 2), and
:func:`aggregate` sums alpha_ij times the source values into each target (the fusion stage,
[Velickovic18] Eq. 4). Both use only ``scatter_reduce`` and ``index_add``, no sparse tensors.

As with dense masks, a boolean edge mask has ``True`` = may attend; masked edges get weight
exactly 0, and a node whose incoming edges are all masked (or that has none) gets all-zero
weights and a zero aggregate, never NaN.

References:
    [Velickovic18] P. Veličković, G. Cucurull, A. Casanova, A. Romero, P. Liò, Y. Bengio.
    Graph Attention Networks. ICLR 2018. arXiv:1710.10903.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["add_self_loops", "aggregate", "check_edge_index", "edge_softmax", "remove_self_loops"]


def check_edge_index(edge_index: Tensor, n_nodes: int) -> None:
    """Check that `edge_index` is a (2, E) int64 tensor of node indices in [0, `n_nodes`).

    Args:
        edge_index: edges, (2, E); row 0 = source j, row 1 = target i.
        n_nodes: number of nodes N.

    Raises:
        ValueError: if `edge_index` is not a tensor of shape (2, E) and dtype int64, or holds an
            index outside [0, N).
    """
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise ValueError(
            f"edge_index must be a (2, E) tensor (row 0 = source, row 1 = target), got {shape}; "
            "transpose an (E, 2) list of pairs with .t()"
        )
    _check_index(edge_index, n_nodes, "edge_index")


def _check_index(index: Tensor, n_nodes: int, name: str) -> None:
    if index.dtype != torch.long:
        raise ValueError(f"{name} must hold int64 node indices, got {index.dtype}; convert it with .long()")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_nodes):
        raise ValueError(
            f"{name} holds node indices in [{int(index.min())}, {int(index.max())}], outside "
            f"[0, {n_nodes}) for a graph of {n_nodes} nodes; pass the right number of nodes"
        )


def _check_target(target: Tensor, n_edges: int, n_nodes: int, name: str = "target") -> None:
    if not isinstance(target, Tensor) or target.dim() != 1 or target.shape[0] != n_edges:
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        row = 1 if name == "target" else 0
        raise ValueError(
            f"{name} must be a (E,) tensor with one node index per edge, E = {n_edges}, got {shape}; "
            f"pass edge_index[{row}]"
        )
    _check_index(target, n_nodes, name)


def _per_edge(t: Tensor, like: Tensor) -> Tensor:
    """`t` (E,) viewed as (E, 1, ...) to broadcast against `like` (E, ...)."""
    return t.view(t.shape[0], *([1] * (like.dim() - 1)))


def edge_softmax(scores: Tensor, target: Tensor, n_nodes: int, *, mask: Tensor | None = None) -> Tensor:
    """Softmax of the scores of each target node's incoming edges, alpha_ij = softmax_j(e_ij).

    The per-target maximum of the kept scores (``scatter_reduce`` amax) is subtracted before
    the exponential, so large scores do not overflow; it is a constant of the softmax and gets
    no gradient. Masked edges are excluded and get weight exactly 0.

    Args:
        scores: unnormalised edge scores e_ij, (E,) or (E, Nh), floating point.
        target: target node i of each edge, (E,), int64 in [0, N) (``edge_index[1]``).
        n_nodes: number of nodes N.
        mask: boolean, (E,), ``True`` = the edge may be attended over; None = all edges.

    Returns:
        Weights alpha with the shape and dtype of `scores`, in [0, 1]; over the kept edges into
        each node they sum to 1 (per head), or to 0 when the node has no kept incoming edge.

    Raises:
        ValueError: if `target` is not (E,) int64 in [0, N), `mask` is not a boolean (E,) tensor,
            or `scores` is not floating point (E,) or (E, Nh).

    References:
        [Velickovic18] Eq. 2.
    """
    if not scores.is_floating_point() or scores.dim() not in (1, 2):
        raise ValueError(f"scores must be floating-point (E,) or (E, Nh), got {scores.dtype} {tuple(scores.shape)}")
    _check_target(target, scores.shape[0], n_nodes)
    if mask is not None:
        if mask.dtype != torch.bool or tuple(mask.shape) != (scores.shape[0],):
            raise ValueError(
                f"mask must be a boolean (E,) tensor with E = {scores.shape[0]}, "
                f"got {mask.dtype} {tuple(mask.shape)}; True = keep the edge"
            )
        keep = _per_edge(mask, scores)  # (E, 1) or (E,)
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    index = _per_edge(target, scores).expand_as(scores)  # (E, [Nh])
    shape = (n_nodes, *scores.shape[1:])  # (N, [Nh])
    peak = scores.detach().new_full(shape, torch.finfo(scores.dtype).min)
    peak = peak.scatter_reduce(0, index, scores.detach(), "amax", include_self=False)  # (N, [Nh])
    exp = torch.exp(scores - peak[target])  # (E, [Nh]), <= 1 on kept edges
    if mask is not None:
        exp = exp.masked_fill(~keep, 0.0)  # a node with only masked edges would get exp(0) = 1
    total = exp.new_zeros(shape).index_add(0, target, exp)  # (N, [Nh])
    total = total.masked_fill(total == 0, 1.0)  # nodes with no kept edge: 0 / 1 = 0, not NaN
    return exp / total[target]


def aggregate(weights: Tensor, values: Tensor, target: Tensor, n_nodes: int, *, source: Tensor | None = None) -> Tensor:
    """Weighted sum of the values over each target node's incoming edges, h_i = sum_j alpha_ij v_j.

    Args:
        weights: edge weights alpha_ij, (E,) or (E, Nh), e.g. from :func:`edge_softmax`.
        values: with `source`, node values v (N, D) or (N, Nh, Dh), of which the edge takes
            its source's; without, one value per edge (E, D) or (E, Nh, Dh). Its leading
            dims after the first must equal those of `weights`.
        target: target node i of each edge, (E,), int64 in [0, N) (``edge_index[1]``).
        n_nodes: number of nodes N.
        source: source node j of each edge, (E,), int64 (``edge_index[0]``); None when `values`
            are already per edge.

    Returns:
        (N, D) or (N, Nh, Dh) in the dtype of `values`; zeros at nodes with no incoming edge.

    Raises:
        ValueError: if `target` or `source` is not (E,) int64 in range, or the shapes of
            `weights` and `values` disagree.

    References:
        [Velickovic18] Eq. 4 (before the nonlinearity).
    """
    if source is not None:
        _check_target(source, weights.shape[0], values.shape[0], "source")
        values = values.index_select(0, source)  # (E, D) or (E, Nh, Dh)
    if values.dim() != weights.dim() + 1 or values.shape[:-1] != weights.shape:
        raise ValueError(
            f"values {tuple(values.shape)} do not match weights {tuple(weights.shape)}: pass "
            "(E, D) values for (E,) weights or (E, Nh, Dh) for (E, Nh) (per node with source=)"
        )
    _check_target(target, weights.shape[0], n_nodes)
    messages = weights.unsqueeze(-1).to(values.dtype) * values  # (E, [Nh,] D)
    return values.new_zeros((n_nodes, *values.shape[1:])).index_add(0, target, messages)


def remove_self_loops(edge_index: Tensor) -> Tensor:
    """`edge_index` (2, E) without its self-loops (j == i), (2, E'), the other edges in order."""
    return edge_index[:, edge_index[0] != edge_index[1]]


def add_self_loops(edge_index: Tensor, n_nodes: int) -> Tensor:
    """Replace the self-loops of a graph by exactly one loop i -> i per node, as PyTorch Geometric.

    Existing self-loops are removed first, so no node gets two; the other edges keep their order
    and the N loops follow them, node 0 first.

    Args:
        edge_index: edges, (2, E), int64; row 0 = source j, row 1 = target i.
        n_nodes: number of nodes N.

    Returns:
        (2, E' + N), where E' is the number of edges that are not self-loops.

    Raises:
        ValueError: as :func:`check_edge_index`.
    """
    check_edge_index(edge_index, n_nodes)
    loops = torch.arange(n_nodes, device=edge_index.device).expand(2, n_nodes)  # (2, N)
    return torch.cat([remove_self_loops(edge_index), loops], dim=1)
