"""The API is generic over tasks: a graph task's prediction by its fields (GAT on the karate
club), and an image task's uploaded image (a tiny CBAM CNN on Fashion-MNIST; text refused)."""

from __future__ import annotations

import pytest
import torch

from attnkit.config import load_config
from attnkit.explore import RunRegistry, create_app
from attnkit.explore.payload import read_matrix
from attnkit.training.pipeline import train_run

from .conftest import REPO


@pytest.fixture(scope="module")
def karate(tmp_path_factory):
    out = tmp_path_factory.mktemp("karate") / "karate-gat"
    train_run(
        load_config(
            REPO / "configs" / "karate-gat.yaml", ["train.max_steps=3", "train.eval_every=3", "train.threads=1"]
        ),
        out,
        progress=False,
    )
    return create_app(RunRegistry.load([out])).test_client(), RunRegistry.load([out])


def test_a_graph_node_prediction_with_its_edge_weights(karate):
    client, registry = karate
    meta = client.get("/api/runs").json["runs"][0]
    assert meta["input"] == "text" and not meta["decodes"] and not meta["layer_maps"]
    task = registry["karate-gat"].run.task
    node = task.graph.names[0]
    body = client.post("/api/runs/karate-gat/predict", json={"input": node}).json
    assert body["kind"] == "graph-neighbourhood" and body["fields"]["node"] == node and body["output"] in task.classes
    weights = [torch.from_numpy(read_matrix(m).copy()) for m in body["view"]["layers"]]
    k = len(body["view"]["neighbours"])
    assert weights and all(w.shape[0] == k for w in weights)
    for w in weights:  # GAT: each head's weights over the node's incoming edges sum to 1
        torch.testing.assert_close(w.sum(0), torch.ones(w.shape[1]), atol=1e-4, rtol=0)
    response = client.post("/api/runs/karate-gat/predict", json={"input": "nobody"})
    assert response.status_code == 400 and "no node 'nobody'" in response.json["error"]
    response = client.post("/api/runs/karate-gat/predict", json={"input": node, "options": {"x": "1"}})
    assert response.status_code == 400 and "takes no options" in response.json["error"]
    # decoding fields: refused from the run's capabilities, unless they are the defaults
    response = client.post("/api/runs/karate-gat/predict", json={"input": node, "beam_size": 3, "alpha": 1.0})
    assert response.status_code == 400
    assert response.json["error"] == (
        "run karate-gat does not decode, so it takes no decoding fields (alpha, beam_size, n_best)"
    )
    assert client.post("/api/runs/karate-gat/predict", json={"input": node, "beam_size": 1}).status_code == 200


def test_an_uploaded_image_is_classified_with_its_attention_maps(tmp_path):
    import base64
    import io
    import tempfile
    from pathlib import Path

    from PIL import Image

    from attnkit.data.fashion_mnist import FASHION_MNIST_DIR

    if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist")
    run = tmp_path / "fashion"
    train_run(
        load_config(
            REPO / "configs" / "fashion-cnn-cbam.yaml",
            [
                "data.train_size=300",
                "data.dev_size=100",
                "data.test_size=50",
                "model.channels=[4, 8]",
                "train.max_steps=2",
                "train.eval_every=2",
                "train.threads=1",
                "train.batch_size=32",
            ],
        ),
        run,
        progress=False,
    )
    registry = RunRegistry.load([run])
    client = create_app(registry).test_client()
    assert client.get("/api/runs").json["runs"][0]["input"] == "image"
    example = registry["fashion"].run.task.load_split(run, "test")[0]
    buffer = io.BytesIO()
    Image.fromarray(example.image.numpy()).save(buffer, "PNG")
    before = set(Path(tempfile.gettempdir()).glob("attnkit-explore-*"))
    body = client.post("/api/runs/fashion/predict", json={"image": base64.b64encode(buffer.getvalue()).decode()}).json
    assert body["kind"] == "image-overlay" and body["output"] in registry["fashion"].run.task.classes
    maps = body["view"]["maps"]
    assert maps and all(len(m["heat"]["shape"]) == 2 for m in maps)
    assert sum(body["fields"]["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert set(Path(tempfile.gettempdir()).glob("attnkit-explore-*")) == before  # the upload's file is gone
    response = client.post("/api/runs/fashion/predict", json={"image": base64.b64encode(b"GIF89a no").decode()})
    assert response.status_code == 400 and "the uploaded image" in response.json["error"]
    assert "attnkit-explore-" not in response.json["error"]
    response = client.post("/api/runs/fashion/predict", json={"input": "/etc/passwd"})
    assert response.status_code == 400 and "takes an image" in response.json["error"]
