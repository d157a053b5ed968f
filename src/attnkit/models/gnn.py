"""Node classifiers on one graph: GAT / GATv2 [Velickovic18], [Brody22] and the two baselines
of the same budget, a GCN [Kipf17] and a feature-only MLP.

Every model takes the node features (N, F) and the edges (2, E) (row 0 source j, row 1 target i,
both directions of every undirected edge) and returns logits for all nodes; the task picks the
nodes of a split. The GAT follows the paper's transductive set-up (Sec. 3.3): dropout on the
input of every layer and on the attention weights, ELU between layers, ``n_heads`` concatenated
heads in the hidden layers and ``out_heads`` averaged heads in the output layer.

The GCN layer is H' = D^-1/2 (A + I) D^-1/2 H W [Kipf17] Eq. 2, computed as a fixed edge
weighting through the same :func:`attnkit.functional.aggregate` as attention: the one
difference from GAT is that its edge weights come from the degrees, not from the features.

References:
    [Velickovic18] P. Veličković et al. Graph Attention Networks. ICLR 2018. arXiv:1710.10903.
    [Brody22] S. Brody, U. Alon, E. Yahav. How Attentive are Graph Attention Networks? ICLR 2022.
    arXiv:2105.14491.
    [Kipf17] T. N. Kipf, M. Welling. Semi-Supervised Classification with Graph Convolutional
    Networks. ICLR 2017. arXiv:1609.02907.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional.graph import add_self_loops, aggregate, check_edge_index
from ..nn.graph import GraphAttention, GraphAttentionV2

__all__ = ["NodeClassifierOutput", "GATClassifier", "GCNClassifier", "MLPClassifier", "GCNLayer"]


class NodeClassifierOutput(NamedTuple):
    """Logits of every node and, for attention models, every layer's edge weights.

    Fields:
        logits: (N, n_classes).
        layer_weights: per layer, attention weights (E', Nh) over `edge_index`'s edges (empty
            for models without attention or when not asked for).
        edge_index: (2, E') the edges the weights belong to (self-loops included); None without.
    """

    logits: Tensor
    layer_weights: tuple[Tensor, ...] = ()
    edge_index: Tensor | None = None

    def incoming(self, node: int) -> tuple[list[int], list[Tensor]] | None:
        """The model's own reading of its attention for one node: the sources j of its incoming
        edges j -> node (self-loop included) and, per layer, those edges' weights (K, Nh), each
        head's column summing to 1 over the K edges (the edge softmax of [Velickovic18] Eq. 3).
        None for a model without attention (no edges of its own)."""
        if self.edge_index is None:
            return None
        into = (self.edge_index[1] == node).nonzero().squeeze(1).cpu()  # (K,) edges j -> node
        sources = self.edge_index[0, into].cpu().tolist()
        return sources, [w[into].float().cpu() for w in self.layer_weights]


class GATClassifier(nn.Module):
    """A stack of graph attention layers [Velickovic18] Sec. 3.3 (or GATv2 [Brody22]).

    Args:
        in_dim: node feature width F.
        n_classes: number of classes.
        hidden_dim: width per head of the hidden layers.
        n_heads: heads of the hidden layers (concatenated).
        out_heads: heads of the output layer (averaged).
        layers: attention layers (>= 1; the last is the output layer).
        dropout: dropout on every layer's input and on the attention weights.
        version: ``"gat"`` or ``"gatv2"``.

    Raises:
        ValueError: for an unknown version or a size below 1.
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        *,
        hidden_dim: int = 8,
        n_heads: int = 8,
        out_heads: int = 1,
        layers: int = 2,
        dropout: float = 0.6,
        version: str = "gat",
    ) -> None:
        super().__init__()
        layer_cls = {"gat": GraphAttention, "gatv2": GraphAttentionV2}.get(version)
        if layer_cls is None:
            raise ValueError(f"unknown graph attention {version!r}; choose gat or gatv2")
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        widths = [in_dim] + [hidden_dim * n_heads] * (layers - 1)
        self.layers = nn.ModuleList(
            [layer_cls(widths[i], hidden_dim, n_heads=n_heads, dropout=dropout) for i in range(layers - 1)]
            + [layer_cls(widths[-1], n_classes, n_heads=out_heads, concat=False, dropout=dropout)]
        )
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor, *, need_weights: bool = False) -> NodeClassifierOutput:
        """Logits (N, n_classes) of every node; with `need_weights` every layer's (E', Nh) weights.
        Raises ValueError for features or edges of the wrong shape."""
        weights, edges = [], None
        for i, layer in enumerate(self.layers):
            x = F.dropout(x, self.dropout, self.training)
            out = layer(x, edge_index, need_weights=need_weights)
            x = out.output if i == len(self.layers) - 1 else F.elu(out.output)
            weights += [out.weights] if need_weights else []
            edges = out.edge_index
        return NodeClassifierOutput(x, tuple(weights), edges if need_weights else None)


class GCNLayer(nn.Module):
    """H' = D^-1/2 (A + I) D^-1/2 H W + b [Kipf17] Eq. 2, D the degrees of A + I."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        nn.init.xavier_uniform_(self.proj.weight)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        n = x.shape[0]
        check_edge_index(edge_index, n)
        source, target = add_self_loops(edge_index, n)
        degree = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(
            0, target, torch.ones_like(target, dtype=x.dtype)
        )  # (N,)
        norm = degree[source].rsqrt() * degree[target].rsqrt()  # (E',) 1 / sqrt(d_i d_j)
        return aggregate(norm, self.proj(x), target, n, source=source) + self.bias


class GCNClassifier(nn.Module):
    """Graph convolutional network [Kipf17]: ``layers`` GCN layers, ReLU and dropout between."""

    def __init__(
        self, in_dim: int, n_classes: int, *, hidden_dim: int = 64, layers: int = 2, dropout: float = 0.5
    ) -> None:
        super().__init__()
        widths = [in_dim] + [hidden_dim] * (layers - 1) + [n_classes]
        self.layers = nn.ModuleList(GCNLayer(widths[i], widths[i + 1]) for i in range(layers))
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor, *, need_weights: bool = False) -> NodeClassifierOutput:
        for i, layer in enumerate(self.layers):
            x = layer(F.dropout(x, self.dropout, self.training), edge_index)
            x = x if i == len(self.layers) - 1 else F.relu(x)
        return NodeClassifierOutput(x)


class MLPClassifier(nn.Module):
    """The features alone: ``layers`` linear layers with ReLU and dropout; the edges are ignored."""

    def __init__(
        self, in_dim: int, n_classes: int, *, hidden_dim: int = 64, layers: int = 2, dropout: float = 0.5
    ) -> None:
        super().__init__()
        widths = [in_dim] + [hidden_dim] * (layers - 1) + [n_classes]
        self.layers = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(layers))
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor, *, need_weights: bool = False) -> NodeClassifierOutput:
        for i, layer in enumerate(self.layers):
            x = layer(F.dropout(x, self.dropout, self.training))
            x = x if i == len(self.layers) - 1 else F.relu(x)
        return NodeClassifierOutput(x)
