"""A node classifier's output reads its own attention: a node's incoming edges and their weights."""

from __future__ import annotations

import torch

from attnkit.models.gnn import NodeClassifierOutput


def test_incoming_picks_the_edges_into_the_node_and_their_weights_per_layer():
    edge_index = torch.tensor([[0, 1, 2, 2, 1], [1, 1, 1, 0, 2]])  # j -> i
    w1 = torch.arange(10, dtype=torch.float32).view(5, 2)  # (E, Nh)
    w2 = -w1
    out = NodeClassifierOutput(torch.zeros(3, 2), (w1, w2), edge_index)
    sources, weights = out.incoming(1)
    assert sources == [0, 1, 2]  # the edges 0, 1, 2 end at node 1
    torch.testing.assert_close(weights[0], w1[:3])
    torch.testing.assert_close(weights[1], w2[:3])
    sources, weights = out.incoming(2)
    assert sources == [1]
    torch.testing.assert_close(weights[0], w1[4:])
    assert NodeClassifierOutput(torch.zeros(3, 2)).incoming(1) is None  # no attention, no edges of its own
