"""The API is generic over tasks: a graph task's prediction by its fields (GAT on the karate
club), and an image task's input refused as text (it takes an upload)."""

from __future__ import annotations

import pytest
import torch

from attnkit.config import load_config
from attnkit.explore import RunRegistry, create_app
from attnkit.training.pipeline import train_run

from .conftest import REPO


@pytest.fixture(scope="module")
def karate(tmp_path_factory):
    out = tmp_path_factory.mktemp("karate") / "karate-gat"
    train_run(load_config(REPO / "configs" / "karate-gat.yaml", ["train.max_steps=3", "train.eval_every=3",
                                                                 "train.threads=1"]), out, progress=False)
    return create_app(RunRegistry.load([out])).test_client(), RunRegistry.load([out])


def test_a_graph_node_prediction_with_its_edge_weights(karate):
    client, registry = karate
    meta = client.get("/api/runs").json["runs"][0]
    assert meta["input"] == "text" and not meta["decodes"] and not meta["layer_maps"]
    task = registry["karate-gat"].run.task
    node = task.graph.names[0]
    body = client.post("/api/runs/karate-gat/predict", json={"input": node}).json
    assert body["kind"] == "generic" and body["fields"]["node"] == node and body["output"] in task.classes
    weights = [torch.tensor(m["data"]).view(*m["shape"]) for m in body["fields"]["edge_weights"]]
    k = len(body["fields"]["neighbours"])
    assert weights and all(w.shape[0] == k for w in weights)
    for w in weights:  # GAT: each head's weights over the node's incoming edges sum to 1
        torch.testing.assert_close(w.sum(0), torch.ones(w.shape[1]), atol=1e-4, rtol=0)
    response = client.post("/api/runs/karate-gat/predict", json={"input": "nobody"})
    assert response.status_code == 400 and "no node 'nobody'" in response.json["error"]
    response = client.post("/api/runs/karate-gat/predict", json={"input": node, "options": {"x": "1"}})
    assert response.status_code == 400 and "takes no options" in response.json["error"]
