"""GraphAttention (GAT) and GraphAttentionV2 (GATv2) against per-node loops of the papers' equations
and against PyTorch Geometric's GATConv / GATv2Conv with copied weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnkit import nn as ak_nn
from attnkit.nn.catalog import MODULES
from attnkit.nn.graph import GraphAttended, GraphAttention, GraphAttentionV2

EDGES = torch.tensor(
    [
        [0, 1, 2, 3, 4, 4, 1, 2, 2],  # source j; node 5 has no edge at all,
        [1, 0, 1, 1, 2, 3, 3, 2, 0],
    ]
)  # node 2 has a self-loop already
N_NODES = 6


def make(cls, heads=3, concat=True, **kwargs):
    torch.manual_seed(1)
    layer = cls(4, 5, n_heads=heads, concat=concat, **kwargs).double()
    if layer.bias is not None:
        torch.nn.init.normal_(layer.bias)  # a non-zero bias, so that it is tested
    for proj in (getattr(layer, name, None) for name in ("proj_src", "proj_dst")):
        if proj is not None and proj.bias is not None:
            torch.nn.init.normal_(proj.bias)
    return layer


def features(n=N_NODES, seed=2):
    return torch.randn(n, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def neighbourhoods(edge_index, n):
    """For each node i, the list of (edge position, source j) of the edges j -> i."""
    return [
        [(e, int(edge_index[0, e])) for e in range(edge_index.shape[1]) if int(edge_index[1, e]) == i] for i in range(n)
    ]


@torch.no_grad()
def loop_attention(layer, x, edge_index, make_score):
    """The layer's output and weights, node by node and head by head, from ``make_score(layer, x)``,
    a function ``score(i, j, head)`` of the unnormalised score e_ij."""
    score = make_score(layer, x)
    n, heads = x.shape[0], layer.n_heads
    if layer.add_self_loops:
        keep = edge_index[0] != edge_index[1]
        edge_index = torch.cat([edge_index[:, keep], torch.arange(n).repeat(2, 1)], dim=1)
    values = (layer.proj if isinstance(layer, GraphAttention) else layer.proj_src)(x).view(n, heads, -1)
    weights = torch.zeros(edge_index.shape[1], heads, dtype=x.dtype)
    out = torch.zeros(n, heads, values.shape[-1], dtype=x.dtype)
    for i, edges in enumerate(neighbourhoods(edge_index, n)):
        for h in range(heads):
            e = [math.exp(float(score(i, j, h))) for _, j in edges]  # Eq. 1 / 3 (GAT), Eq. 7 (GATv2)
            for (pos, j), e_ij in zip(edges, e):
                weights[pos, h] = e_ij / sum(e)  # Eq. 2
                out[i, h] += weights[pos, h] * values[j, h]  # Eq. 4
    out = out.flatten(1) if layer.concat else out.mean(1)  # Eq. 5 / Eq. 6
    return (out if layer.bias is None else out + layer.bias), weights, edge_index


def gat_score(layer, x):
    z = layer.proj(x).view(x.shape[0], layer.n_heads, -1)  # W h

    def score(i, j, h):  # LeakyReLU(a^T [W h_i || W h_j])
        a = torch.cat([layer.att_dst[h], layer.att_src[h]])
        return F.leaky_relu(a @ torch.cat([z[i, h], z[j, h]]), layer.negative_slope)

    return score


def gatv2_score(layer, x):
    zs = layer.proj_src(x).view(x.shape[0], layer.n_heads, -1)  # W_s h
    zt = layer.proj_dst(x).view(x.shape[0], layer.n_heads, -1)  # W_t h

    def score(i, j, h):  # a^T LeakyReLU(W_t h_i + W_s h_j)
        return layer.att[h] @ F.leaky_relu(zt[i, h] + zs[j, h], layer.negative_slope)

    return score


CASES = [(GraphAttention, gat_score), (GraphAttentionV2, gatv2_score)]


@pytest.mark.parametrize("cls, score", CASES, ids=["gat", "gatv2"])
@pytest.mark.parametrize("heads, concat", [(1, True), (3, True), (3, False)])
@pytest.mark.parametrize("loops", [True, False])
def test_matches_the_papers_equations_node_by_node(cls, score, heads, concat, loops):
    layer = make(cls, heads, concat, add_self_loops=loops)
    x = features()
    result = layer(x, EDGES)
    out, weights, edge_index = loop_attention(layer, x, EDGES, score)
    assert isinstance(result, GraphAttended)
    assert result.output.shape == (N_NODES, heads * 5 if concat else 5)
    torch.testing.assert_close(result.edge_index, edge_index)
    torch.testing.assert_close(result.weights, weights)
    torch.testing.assert_close(result.output, out)


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_weights_over_each_neighbourhood_sum_to_one(cls):
    layer = make(cls, 2, add_self_loops=False)
    result = layer(features(), EDGES)
    sums = torch.zeros(N_NODES, 2, dtype=torch.float64).index_add(0, result.edge_index[1], result.weights)
    has_edge = torch.isin(torch.arange(N_NODES), EDGES[1]).double()[:, None].expand(-1, 2)
    torch.testing.assert_close(sums, has_edge)
    assert (result.output[4] == layer.bias).all()  # no incoming edge: zeros, plus the bias


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_equivariant_to_permuting_nodes(cls):
    layer = make(cls, 2)
    x = features()
    perm = torch.randperm(N_NODES, generator=torch.Generator().manual_seed(5))
    inverse = torch.argsort(perm)  # node i becomes node inverse[i]
    permuted = layer(x[perm], inverse[EDGES]).output
    torch.testing.assert_close(permuted, layer(x, EDGES).output[perm])


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_gradcheck(cls):
    layer = make(cls, 2, concat=False)
    x = features(seed=7).requires_grad_(True)
    params = tuple(p for p in layer.parameters())
    assert torch.autograd.gradcheck(lambda x_, *_: layer(x_, EDGES).output, (x, *params))


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_every_parameter_gets_a_finite_gradient(cls):
    layer = make(cls, 3)
    layer(features(), EDGES).output.square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.isfinite().all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_dropout_acts_on_the_attention_only_in_training(cls):
    layer = make(cls, 3, dropout=0.5)
    plain = make(cls, 3)
    x = features()
    evaluated = layer.eval()(x, EDGES)
    torch.testing.assert_close(evaluated.output, plain(x, EDGES).output)
    trained = layer.train()(x, EDGES)
    dropped = trained.weights == 0
    assert dropped.any() and not dropped.all()
    kept = evaluated.weights[~dropped] * 2  # survivors scaled by 1 / (1 - p)
    torch.testing.assert_close(trained.weights[~dropped], kept)
    assert not torch.allclose(trained.output, evaluated.output)


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_options_have_an_effect(cls):
    x = features()
    no_bias = make(cls, 2, bias=False)
    assert no_bias.bias is None and not any("bias" in n for n, _ in no_bias.named_parameters())
    assert make(cls, 2, concat=False)(x, EDGES).output.shape == (N_NODES, 5)
    steep = make(cls, 2, negative_slope=0.9)(x, EDGES).output
    assert not torch.allclose(steep, make(cls, 2)(x, EDGES).output)
    result = make(cls, 2, add_self_loops=False)(x, EDGES, need_weights=False)
    assert result.weights is None and result.edge_index is EDGES


def test_gatv2_share_weights():
    shared = GraphAttentionV2(4, 5, n_heads=2, share_weights=True)
    assert shared.proj_dst is shared.proj_src and shared.share_weights
    assert len(list(shared.parameters())) == 4  # W (weight, bias), a, output bias
    assert not GraphAttentionV2(4, 5).share_weights


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_xavier_initialisation(cls):
    layer = cls(40, 30, n_heads=4)
    weight = layer.proj.weight if cls is GraphAttention else layer.proj_src.weight
    assert weight.abs().max() <= math.sqrt(6 / (40 + 120))
    assert weight.std() > 0.5 * math.sqrt(2 / (40 + 120))
    assert (layer.bias == 0).all()


@pytest.mark.parametrize("cls", [GraphAttention, GraphAttentionV2])
def test_errors(cls):
    layer = cls(4, 5, n_heads=2)
    x = torch.randn(N_NODES, 4)
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        layer(x, EDGES.t())
    with pytest.raises(ValueError, match="int64"):
        layer(x, EDGES.int())
    with pytest.raises(ValueError, match="outside"):
        layer(x[:4], EDGES)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        layer(torch.randn(N_NODES, 3), EDGES)
    with pytest.raises(ValueError, match="dropout"):
        cls(4, 5, dropout=1.0)
    with pytest.raises(ValueError, match="n_heads"):
        cls(4, 5, n_heads=0)


def test_registered_and_exported():
    assert MODULES.get("GraphAttention") is GraphAttention is ak_nn.GraphAttention
    assert MODULES.get("GraphAttentionV2") is GraphAttentionV2 is ak_nn.GraphAttentionV2
    assert ak_nn.GraphAttended is GraphAttended


# --- PyTorch Geometric, a test-only dependency --------------------------------------------------


def _copy_gat(ours, theirs):
    """GATConv <- GraphAttention: lin.weight = proj.weight; att_src/att_dst (1, Nh, Dh) = ours (Nh, Dh)."""
    with torch.no_grad():
        theirs.lin.weight.copy_(ours.proj.weight)
        theirs.att_src.copy_(ours.att_src.unsqueeze(0))
        theirs.att_dst.copy_(ours.att_dst.unsqueeze(0))
        theirs.bias.copy_(ours.bias)


def _copy_gatv2(ours, theirs):
    """GATv2Conv <- GraphAttentionV2: lin_l = proj_src (W_s, source j), lin_r = proj_dst (W_t, target i)."""
    with torch.no_grad():
        for mine, pyg in ((ours.proj_src, theirs.lin_l), (ours.proj_dst, theirs.lin_r)):
            pyg.weight.copy_(mine.weight)
            pyg.bias.copy_(mine.bias)
        theirs.att.copy_(ours.att.unsqueeze(0))
        theirs.bias.copy_(ours.bias)


@pytest.mark.parametrize("which", ["gat", "gatv2"])
@pytest.mark.parametrize("heads, concat", [(1, True), (3, True), (3, False), (1, False)])
def test_matches_torch_geometric(which, heads, concat):
    pyg = pytest.importorskip("torch_geometric.nn")
    cls, conv, copy = {
        "gat": (GraphAttention, pyg.GATConv, _copy_gat),
        "gatv2": (GraphAttentionV2, pyg.GATv2Conv, _copy_gatv2),
    }[which]
    ours = make(cls, heads, concat)
    theirs = conv(4, 5, heads=heads, concat=concat).double()
    copy(ours, theirs)
    x = features()
    result = ours(x, EDGES)
    out, (edge_index, alpha) = theirs(x, EDGES, return_attention_weights=True)
    torch.testing.assert_close(result.edge_index, edge_index)
    torch.testing.assert_close(result.weights, alpha)
    torch.testing.assert_close(result.output, out)
