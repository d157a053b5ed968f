"""edge_softmax, aggregate and the self-loop helpers of attnkit.functional.graph, against per-node loops."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit import functional
from attnkit.functional.graph import add_self_loops, aggregate, check_edge_index, edge_softmax, remove_self_loops


def random_graph(n_nodes: int, n_edges: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_nodes, (2, n_edges), generator=g)


def loop_softmax(scores, target, n_nodes, mask=None):
    """Softmax over each node's kept incoming edges, one node at a time, in Python."""
    out = torch.zeros_like(scores)
    keep = torch.ones(len(target), dtype=torch.bool) if mask is None else mask
    for i in range(n_nodes):
        edges = [e for e in range(len(target)) if int(target[e]) == i and keep[e]]
        if not edges:
            continue
        for h in range(1 if scores.dim() == 1 else scores.shape[1]):
            col = (lambda e: scores[e]) if scores.dim() == 1 else (lambda e: scores[e, h])
            exps = [math.exp(float(col(e))) for e in edges]
            for e, x in zip(edges, exps):
                if scores.dim() == 1:
                    out[e] = x / sum(exps)
                else:
                    out[e, h] = x / sum(exps)
    return out


def loop_aggregate(weights, values, source, target, n_nodes):
    """h_i = sum over edges j -> i of w_ij v_j, node by node."""
    out = torch.zeros((n_nodes, *values.shape[1:]), dtype=values.dtype)
    for e in range(len(target)):
        w = weights[e].unsqueeze(-1) if weights.dim() > 1 else weights[e]
        out[int(target[e])] += w * values[int(source[e])]
    return out


def test_exported_from_functional():
    assert functional.edge_softmax is edge_softmax and functional.aggregate is aggregate
    assert functional.add_self_loops is add_self_loops


@pytest.mark.parametrize("heads", [None, 1, 3])
def test_edge_softmax_matches_a_per_node_loop(heads):
    edge_index = random_graph(6, 20)
    shape = (20,) if heads is None else (20, heads)
    scores = torch.randn(shape, dtype=torch.float64) * 3
    mask = torch.rand(20) > 0.3
    for m in (None, mask):
        ours = edge_softmax(scores, edge_index[1], 6, mask=m)
        torch.testing.assert_close(ours, loop_softmax(scores, edge_index[1], 6, m))


def test_neighbourhoods_sum_to_one_and_empty_ones_to_zero():
    target = torch.tensor([0, 0, 1, 1, 1, 3])  # node 2 has no edge, node 3 only a masked one
    mask = torch.tensor([True, True, True, False, True, False])
    weights = edge_softmax(torch.randn(6, 2, dtype=torch.float64), target, 4, mask=mask)
    sums = torch.zeros(4, 2, dtype=torch.float64).index_add(0, target, weights)
    torch.testing.assert_close(
        sums, torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    )
    assert (weights[~mask] == 0).all()


def test_large_scores_do_not_overflow():
    scores = torch.tensor([1000.0, 999.0, -1000.0])
    weights = edge_softmax(scores, torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(weights, torch.tensor([1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1)), 1.0]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_has_no_nan_and_stays_close_to_float64(dtype):
    edge_index = random_graph(5, 16, seed=3)
    scores = torch.randn(16, 2, dtype=torch.float64) * 4
    mask = torch.rand(16) > 0.4
    mask[edge_index[1] == 0] = False  # node 0: every incoming edge masked
    golden = edge_softmax(scores, edge_index[1], 5, mask=mask)
    ours = edge_softmax(scores.to(dtype), edge_index[1], 5, mask=mask)
    assert ours.dtype == dtype and not ours.isnan().any()
    assert (ours[~mask] == 0).all()
    # error within a few units of rounding of the weights themselves
    assert (ours.double() - golden).abs().max() <= 4 * torch.finfo(dtype).eps
    values = torch.randn(5, 2, 3, dtype=dtype)
    out = aggregate(ours, values, edge_index[1], 5, source=edge_index[0])
    assert not out.isnan().any() and (out[0] == 0).all()


@st.composite
def graphs(draw):
    n_nodes = draw(st.integers(1, 6))
    n_edges = draw(st.integers(0, 15))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_nodes - 1), st.integers(0, n_nodes - 1)), min_size=n_edges, max_size=n_edges
        )
    )
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t()
    heads = draw(st.sampled_from([None, 1, 2]))
    shape = (n_edges,) if heads is None else (n_edges, heads)
    scores = torch.tensor(
        draw(st.lists(st.floats(-50, 50), min_size=math.prod(shape), max_size=math.prod(shape))), dtype=torch.float64
    ).reshape(shape)
    mask = torch.tensor(draw(st.lists(st.booleans(), min_size=n_edges, max_size=n_edges)), dtype=torch.bool)
    return n_nodes, edge_index, scores, mask


@settings(max_examples=60, deadline=None)
@given(graphs(), st.floats(-20, 20))
def test_edge_softmax_properties_on_random_graphs(graph, shift):
    n_nodes, edge_index, scores, mask = graph
    target = edge_index[1]
    weights = edge_softmax(scores, target, n_nodes, mask=mask)
    assert weights.shape == scores.shape and not weights.isnan().any()
    assert (weights >= 0).all() and (weights <= 1).all() and (weights[~mask] == 0).all()
    sums = torch.zeros((n_nodes, *scores.shape[1:]), dtype=scores.dtype).index_add(0, target, weights)
    has_edge = torch.zeros(n_nodes, dtype=scores.dtype).index_add(0, target, mask.to(scores.dtype)) > 0
    expected = has_edge.to(scores.dtype).view(n_nodes, *([1] * (scores.dim() - 1))).expand_as(sums)
    torch.testing.assert_close(sums, expected)
    torch.testing.assert_close(weights, loop_softmax(scores, target, n_nodes, mask))
    # a constant per target node leaves the weights unchanged
    per_node = torch.linspace(-1, 1, n_nodes, dtype=scores.dtype) * shift
    shifted = scores + per_node[target].view(-1, *([1] * (scores.dim() - 1)))
    torch.testing.assert_close(edge_softmax(shifted, target, n_nodes, mask=mask), weights)


@settings(max_examples=40, deadline=None)
@given(graphs(), st.integers(1, 4))
def test_aggregate_matches_a_loop_on_random_graphs(graph, width):
    n_nodes, edge_index, scores, _ = graph
    source, target = edge_index
    values = torch.randn((n_nodes, *scores.shape[1:], width), dtype=torch.float64)
    ours = aggregate(scores, values, target, n_nodes, source=source)
    torch.testing.assert_close(ours, loop_aggregate(scores, values, source, target, n_nodes))
    per_edge = aggregate(scores, values[source], target, n_nodes)  # values already gathered per edge
    torch.testing.assert_close(per_edge, ours)


def test_aggregate_gives_zeros_at_nodes_without_edges():
    edge_index = torch.tensor([[0, 1], [1, 1]])
    out = aggregate(torch.ones(2), torch.ones(3, 4), edge_index[1], 3, source=edge_index[0])
    assert (out[[0, 2]] == 0).all() and (out[1] == 2).all()


def test_gradcheck_edge_softmax_and_aggregate():
    edge_index = torch.tensor([[0, 1, 2, 2, 3, 1], [1, 1, 0, 1, 0, 3]])  # node 2 has no incoming edge
    mask = torch.tensor([True, True, True, False, True, True])
    scores = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    values = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: edge_softmax(s, edge_index[1], 4, mask=mask), (scores,))
    assert torch.autograd.gradcheck(
        lambda s, v: aggregate(edge_softmax(s, edge_index[1], 4), v, edge_index[1], 4, source=edge_index[0]),
        (scores, values),
    )


def test_add_self_loops_replaces_existing_loops_after_the_other_edges():
    edge_index = torch.tensor([[0, 1, 1, 2, 2], [1, 1, 0, 2, 0]])
    looped = add_self_loops(edge_index, 3)
    assert looped.tolist() == [[0, 1, 2, 0, 1, 2], [1, 0, 0, 0, 1, 2]]
    assert remove_self_loops(edge_index).tolist() == [[0, 1, 2], [1, 0, 0]]
    assert add_self_loops(torch.empty(2, 0, dtype=torch.long), 2).tolist() == [[0, 1], [0, 1]]


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(3, 4, dtype=torch.long), r"\(2, E\)"),
        (torch.zeros(2, 4), "int64"),
        (torch.tensor([[0, 5], [1, 0]]), "outside"),
        (torch.tensor([[0, -1], [1, 0]]), "outside"),
    ],
)
def test_bad_edge_index_raises_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        check_edge_index(bad, 3)
    with pytest.raises(ValueError, match=message):
        add_self_loops(bad, 3)


def test_bad_arguments_of_edge_softmax_and_aggregate():
    target = torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match="target"):
        edge_softmax(torch.randn(4), target, 2)
    with pytest.raises(ValueError, match="outside"):
        edge_softmax(torch.randn(3), target, 1)
    with pytest.raises(ValueError, match="mask"):
        edge_softmax(torch.randn(3), target, 2, mask=torch.ones(3))
    with pytest.raises(ValueError, match="floating"):
        edge_softmax(torch.ones(3, dtype=torch.long), target, 2)
    with pytest.raises(ValueError, match="do not match"):
        aggregate(torch.rand(3, 2), torch.randn(3, 4), target, 2)
    with pytest.raises(ValueError, match="source"):
        aggregate(torch.rand(3), torch.randn(2, 4), target, 2, source=torch.tensor([0, 1, 2]))
