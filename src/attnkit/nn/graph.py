"""Attention over graph nodes: each node attends over its neighbourhood (GAT and GATv2).

A node i updates its features from the nodes j with an edge j -> i (its neighbourhood N_i,
itself included when self-loops are added): it scores every edge, normalises the scores over
N_i with :func:`attnkit.functional.edge_softmax` and sums the projected neighbours with those
weights (:func:`attnkit.functional.aggregate`). ``edge_index`` (2, E) follows PyTorch
Geometric: row 0 = source j, row 1 = target i.

The two layers differ only in the score. GAT [Velickovic18] scores a_dst^T W h_i + a_src^T W h_j
under a LeakyReLU, which is monotonic in the neighbour's term, so every node ranks its
neighbours the same way ("static" attention); GATv2 [Brody22] applies the nonlinearity before
the attention vector, a^T LeakyReLU(W_t h_i + W_s h_j), so the ranking may depend on the
target ("dynamic" attention).

References:
    [Velickovic18] P. Veličković, G. Cucurull, A. Casanova, A. Romero, P. Liò, Y. Bengio.
    Graph Attention Networks. ICLR 2018. arXiv:1710.10903.
    [Brody22] S. Brody, U. Alon, E. Yahav. How Attentive are Graph Attention Networks?
    ICLR 2022. arXiv:2105.14491.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional.graph import add_self_loops, aggregate, check_edge_index, edge_softmax

__all__ = ["GraphAttended", "GraphAttention", "GraphAttentionV2"]


class GraphAttended(NamedTuple):
    """Output of a graph attention layer."""

    output: Tensor  # (N, Nh * Dh) with concatenated heads, (N, Dh) with averaged heads
    weights: Tensor | None  # (E', Nh): alpha of each edge of edge_index (after dropout); None if not requested
    edge_index: Tensor  # (2, E'): the edges attended over, self-loops included when added


def _check_inputs(x: Tensor, edge_index: Tensor, in_dim: int) -> int:
    """The number of nodes N, after checking `x` is (N, in_dim) floating point and `edge_index` valid."""
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != in_dim or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"x must be floating-point node features (N, in_dim) = (N, {in_dim}), got {shape}; "
            "one row per node, batch several graphs as one disconnected graph"
        )
    check_edge_index(edge_index, x.shape[0])
    return x.shape[0]


def _check_sizes(in_dim: int, out_dim: int, n_heads: int, dropout: float) -> None:
    for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("n_heads", n_heads)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout}")


def _merge_heads(out: Tensor, concat: bool, bias: Tensor | None) -> Tensor:
    """(N, Nh, Dh) -> (N, Nh * Dh) concatenated [Velickovic18] Eq. 5 or (N, Dh) averaged Eq. 6, plus bias."""
    out = out.flatten(1) if concat else out.mean(dim=1)
    return out if bias is None else out + bias


class GraphAttention(nn.Module):
    """Graph attention layer (GAT) [Velickovic18] Sec. 2.1, Eqs. 1-6.

    z = W h (a shared linear map); e_ij = a(z_i, z_j) = LeakyReLU(a^T [z_i || z_j]) (Eqs. 1, 3);
    alpha_ij = softmax of e_ij over the neighbourhood N_i (Eq. 2); h_i' = sum_j alpha_ij z_j
    (Eq. 4), per head; heads concatenated (Eq. 5) or averaged (Eq. 6); then a bias. Our ``proj``
    is the paper's W for all heads, ``att_dst`` and ``att_src`` are the two halves of a (the
    half on the target z_i and the half on the neighbour z_j), one row per head; `out_dim` is
    the paper's F' (per head).

    Args:
        in_dim: input node feature width F.
        out_dim: output width per head, Dh (the paper's F').
        n_heads: number of independent heads Nh (the paper's K).
        concat: concatenate the heads, output (N, Nh * Dh) (hidden layers, Eq. 5); else average
            them, (N, Dh) (the final layer, Eq. 6).
        negative_slope: slope of the LeakyReLU for negative inputs (paper: 0.2).
        dropout: probability in [0, 1) of dropping each normalised attention weight, in training
            mode only (Sec. 3.3).
        add_self_loops: replace the graph's self-loops by one loop per node, so N_i includes i
            (Sec. 2.1: "including i").
        bias: add a learned bias to the output.

    Raises:
        ValueError: if a width or `n_heads` is < 1, or `dropout` is outside [0, 1).

    Differences from the paper:
        the paper applies the nonlinearity sigma of Eqs. 4-6 inside the layer; we leave it to
        the caller (as PyTorch Geometric's ``GATConv``), and add an output bias (as the
        authors' code); dropout on the layer inputs (Sec. 3.3) is also the caller's. Parameters
        are initialised as the authors' code and PyG: Xavier (Glorot) uniform weights, zero bias.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        n_heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        _check_sizes(in_dim, out_dim, n_heads, dropout)
        self.in_dim, self.out_dim, self.n_heads, self.concat = in_dim, out_dim, n_heads, concat
        self.negative_slope, self.dropout, self.add_self_loops = negative_slope, dropout, add_self_loops
        self.proj = nn.Linear(in_dim, n_heads * out_dim, bias=False)  # W, all heads
        self.att_src = nn.Parameter(torch.empty(n_heads, out_dim))  # a, the half on z_j
        self.att_dst = nn.Parameter(torch.empty(n_heads, out_dim))  # a, the half on z_i
        self.bias = nn.Parameter(torch.empty(n_heads * out_dim if concat else out_dim)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform W and a (per head, fan (Nh, Dh) as PyG's glorot), zero bias."""
        for weight in (self.proj.weight, self.att_src, self.att_dst):
            nn.init.xavier_uniform_(weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, *, need_weights: bool = True) -> GraphAttended:
        """Each node attends over its incoming edges.

        Args:
            x: node features h, (N, in_dim).
            edge_index: edges, (2, E), int64; row 0 = source j, row 1 = target i.
            need_weights: return the attention weights (else None).

        Returns:
            :class:`GraphAttended` with output (N, Nh * Dh) or (N, Dh), weights alpha (E', Nh)
            or None, and the edge_index (2, E') they belong to.

        Raises:
            ValueError: for `x` not (N, in_dim) floating point, or an `edge_index` that is not
                (2, E) int64 with indices in [0, N).
        """
        n = _check_inputs(x, edge_index, self.in_dim)
        if self.add_self_loops:
            edge_index = add_self_loops(edge_index, n)  # (2, E' = E - loops + N)
        source, target = edge_index
        z = self.proj(x).view(n, self.n_heads, self.out_dim)  # W h, (N, Nh, Dh)
        score_src = (z * self.att_src).sum(-1)  # a_src^T z_j, (N, Nh)
        score_dst = (z * self.att_dst).sum(-1)  # a_dst^T z_i, (N, Nh)
        scores = F.leaky_relu(score_dst[target] + score_src[source], self.negative_slope)  # (E', Nh)  Eq. 3
        weights = edge_softmax(scores, target, n)  # (E', Nh)   Eq. 2
        weights = F.dropout(weights, self.dropout, self.training)
        out = aggregate(weights, z, target, n, source=source)  # (N, Nh, Dh)   Eq. 4
        return GraphAttended(_merge_heads(out, self.concat, self.bias), weights if need_weights else None, edge_index)


class GraphAttentionV2(nn.Module):
    """GATv2, dynamic graph attention [Brody22] Eq. 7.

    e_ij = a^T LeakyReLU(W_t h_i + W_s h_j) (Eq. 7, with W = [W_t | W_s] split by the halves of
    [h_i || h_j]); alpha_ij = softmax of e_ij over N_i; h_i' = sum_j alpha_ij W_s h_j, per head;
    heads concatenated or averaged, then a bias, as :class:`GraphAttention`. Our ``proj_src``
    is W_s (applied to the neighbour j, also giving the values), ``proj_dst`` W_t (applied to the
    target i), ``att`` the vector a, one row per head.

    Args:
        in_dim: input node feature width F.
        out_dim: output width per head, Dh (the paper's d').
        n_heads: number of heads Nh.
        concat: concatenate the heads, (N, Nh * Dh); else average them, (N, Dh).
        negative_slope: slope of the LeakyReLU for negative inputs (0.2, as the authors' code).
        dropout: probability in [0, 1) of dropping each attention weight, in training mode only.
        add_self_loops: replace the graph's self-loops by one loop per node.
        bias: learn biases in W_s and W_t and on the output (as PyG's ``GATv2Conv``).
        share_weights: use one matrix for W_s and W_t (``proj_dst`` is ``proj_src``).

    Raises:
        ValueError: if a width or `n_heads` is < 1, or `dropout` is outside [0, 1).

    Differences from the paper:
        Eq. 7 has no biases; with ``bias=True`` W_s and W_t are affine and the output gets a
        bias, as in PyTorch Geometric's ``GATv2Conv``. The output nonlinearity is the caller's.
        Xavier-uniform weights, zero biases.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        n_heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        bias: bool = True,
        share_weights: bool = False,
    ) -> None:
        super().__init__()
        _check_sizes(in_dim, out_dim, n_heads, dropout)
        self.in_dim, self.out_dim, self.n_heads, self.concat = in_dim, out_dim, n_heads, concat
        self.negative_slope, self.dropout, self.add_self_loops = negative_slope, dropout, add_self_loops
        self.proj_src = nn.Linear(in_dim, n_heads * out_dim, bias=bias)  # W_s, all heads
        self.proj_dst = self.proj_src if share_weights else nn.Linear(in_dim, n_heads * out_dim, bias=bias)  # W_t
        self.att = nn.Parameter(torch.empty(n_heads, out_dim))  # a
        self.bias = nn.Parameter(torch.empty(n_heads * out_dim if concat else out_dim)) if bias else None
        self.reset_parameters()

    @property
    def share_weights(self) -> bool:
        return self.proj_dst is self.proj_src

    def reset_parameters(self) -> None:
        """Xavier-uniform W_s, W_t and a, zero biases."""
        for proj in {id(p): p for p in (self.proj_src, self.proj_dst)}.values():
            nn.init.xavier_uniform_(proj.weight)
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)
        nn.init.xavier_uniform_(self.att)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, *, need_weights: bool = True) -> GraphAttended:
        """Each node attends over its incoming edges.

        Args:
            x: node features h, (N, in_dim).
            edge_index: edges, (2, E), int64; row 0 = source j, row 1 = target i.
            need_weights: return the attention weights (else None).

        Returns:
            :class:`GraphAttended` with output (N, Nh * Dh) or (N, Dh), weights alpha (E', Nh)
            or None, and the edge_index (2, E') they belong to.

        Raises:
            ValueError: for `x` not (N, in_dim) floating point, or an `edge_index` that is not
                (2, E) int64 with indices in [0, N).
        """
        n = _check_inputs(x, edge_index, self.in_dim)
        if self.add_self_loops:
            edge_index = add_self_loops(edge_index, n)  # (2, E')
        source, target = edge_index
        z_src = self.proj_src(x).view(n, self.n_heads, self.out_dim)  # W_s h, (N, Nh, Dh)
        z_dst = self.proj_dst(x).view(n, self.n_heads, self.out_dim)  # W_t h, (N, Nh, Dh)
        hidden = F.leaky_relu(z_dst[target] + z_src[source], self.negative_slope)  # (E', Nh, Dh)
        scores = (hidden * self.att).sum(-1)  # a^T LeakyReLU(...), (E', Nh)   Eq. 7
        weights = edge_softmax(scores, target, n)  # (E', Nh)
        weights = F.dropout(weights, self.dropout, self.training)
        out = aggregate(weights, z_src, target, n, source=source)  # (N, Nh, Dh)
        return GraphAttended(_merge_heads(out, self.concat, self.bias), weights if need_weights else None, edge_index)
