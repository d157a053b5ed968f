"""The pictures' arrays in the JSON API (Flask's test client): an image's overlays (CBAM gates, a
non-local block's map of a chosen query pixel, ViT rollout, a spatial transformer's output and
sampling frame) and a graph node's neighbourhood, each checked against the model called directly
or a formula written out here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnkit.data.images import read_image
from attnkit.explore import Limits, RunRegistry, create_app
from attnkit.explore.payload import read_matrix

from .views import b64, test_image_png, train_image_runs, train_karate


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("views")
    runs = train_image_runs(root)
    karate = train_karate(root)
    registry = RunRegistry.load([*runs.values(), karate])
    png = test_image_png(runs["cbam"])
    return create_app(registry).test_client(), registry, png, root


def tensor(m):
    return torch.from_numpy(read_matrix(m).copy()).double()


def direct(registry, key, png, root):
    """The model's own outputs on the uploaded image, read and normalised as the task does."""
    run = registry[key].run
    path = root / "upload.png"
    path.write_bytes(png)
    image = read_image(path, run.task.size)
    x = run.task._normalise(torch.from_numpy(image[None]))
    with torch.no_grad():
        return run.model(x, need_weights=True), image, x


def overlay(client, key, png, **options):
    response = client.post(f"/api/runs/{key}/predict", json={"image": b64(png), "options": options})
    assert response.status_code == 200, response.json
    return response.json


def test_cbam_overlay_carries_the_picture_and_every_stage_gate(served):
    client, registry, png, root = served
    body = overlay(client, "cbam", png)
    out, image, _ = direct(registry, "cbam", png, root)
    view = body["view"]
    torch.testing.assert_close(tensor(view["image"]), torch.from_numpy(image).double(), atol=1e-5, rtol=0)
    assert [m["name"] for m in view["maps"]] == [f"CBAM spatial gate, stage {s}" for s in (1, 2)]
    for m, gate in zip(view["maps"], out.spatial_weights):
        torch.testing.assert_close(tensor(m["heat"]), gate[0, 0].double(), atol=1e-5, rtol=0)
        assert m["max"] == pytest.approx(float(gate.max()), abs=1e-6) and m["query"] is False
    assert view["query"] is None and view["stn"] is None
    # the arrays travel once: in the view, not again among the fields
    assert not {"image", "maps", "rectified", "theta"} & set(body["fields"])
    assert sum(body["fields"]["probabilities"]) == pytest.approx(1.0, abs=1e-4)


def test_non_local_map_of_a_chosen_query_pixel(served):
    client, registry, png, root = served
    out, _, _ = direct(registry, "nl-stn", png, root)
    w = out.pixel_weights[0].double()
    w = w.mean(0) if w.dim() == 3 else w  # (HW, HW), row = query pixel
    h, wd = out.pixel_grid
    mean = overlay(client, "nl-stn", png)["view"]
    assert mean["query"] == {"map": "non-local: mean weight received", "grid": [h, wd], "cell": None}
    torch.testing.assert_close(tensor(mean["maps"][0]["heat"]), w.mean(0).view(h, wd), atol=1e-5, rtol=0)
    for r, c in [(0, 0), (3, 5), (h - 1, wd - 2)]:
        view = overlay(client, "nl-stn", png, query=f"{r},{c}")["view"]
        assert view["query"] == {"map": f"non-local: query pixel ({r}, {c})", "grid": [h, wd], "cell": [r, c]}
        (m,) = [m for m in view["maps"] if m["query"]]
        heat = tensor(m["heat"])
        torch.testing.assert_close(heat, w[r * wd + c].view(h, wd), atol=1e-5, rtol=0)
        assert float(heat.sum()) == pytest.approx(1.0, abs=1e-3)  # one query's weights over every pixel
    for bad, message in [(f"{h},0", f"outside the non-local map of {h} x {wd}"), ("a,b", "must look like ROW,COL")]:
        response = client.post("/api/runs/nl-stn/predict", json={"image": b64(png), "options": {"query": bad}})
        assert response.status_code == 400 and message in response.json["error"]


def test_spatial_transformer_output_and_its_sampling_frame(served):
    client, registry, png, root = served
    out, image, x = direct(registry, "nl-stn", png, root)
    stn = overlay(client, "nl-stn", png)["view"]["stn"]
    theta = torch.tensor(stn["theta"], dtype=torch.float64)
    torch.testing.assert_close(theta, out.theta[0].double(), atol=1e-6, rtol=0)
    # the output: the input resampled on theta's grid, back in [0, 1]
    task = registry["nl-stn"].run.task
    grid = F.affine_grid(theta[None], [1, 1, *image.shape], align_corners=False)
    warped = F.grid_sample(x.double(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0]
    torch.testing.assert_close(tensor(stn["rectified"]), (warped * task.std + task.mean).clamp(0, 1), atol=1e-4, rtol=0)
    # the frame: the output's corners (-1, -1), (1, -1), (1, 1), (-1, 1) mapped by theta, in input pixels
    H, W = image.shape
    for (u, v), (px, py) in zip([(-1, -1), (1, -1), (1, 1), (-1, 1)], stn["outline"]):
        sx = theta[0, 0] * u + theta[0, 1] * v + theta[0, 2]
        sy = theta[1, 0] * u + theta[1, 1] * v + theta[1, 2]
        assert (px, py) == pytest.approx((float((sx + 1) * W / 2 - 0.5), float((sy + 1) * H / 2 - 0.5)), abs=1e-4)


def test_vit_rollout_over_the_patches(served):
    client, registry, png, root = served
    out, _, _ = direct(registry, "vit", png, root)
    view = overlay(client, "vit", png)["view"]
    names = [m["name"] for m in view["maps"]]
    assert names == ["ViT attention rollout (class token)", "ViT last layer, class token"]
    # rollout written out [Abnar20]: per layer A = (mean of heads + I) / 2, rows renormalised; R = A_L ... A_1
    rollout = None
    for layer in out.layer_weights:
        a = layer[0].double().mean(0)
        a = (a + torch.eye(a.shape[0], dtype=torch.float64)) / 2
        a = a / a.sum(-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    gh, gw = out.patch_grid
    torch.testing.assert_close(tensor(view["maps"][0]["heat"]), rollout[0, 1:].view(gh, gw), atol=1e-5, rtol=0)
    last = out.layer_weights[-1][0].double().mean(0)[0, 1:].view(gh, gw)
    torch.testing.assert_close(tensor(view["maps"][1]["heat"]), last, atol=1e-5, rtol=0)


def test_a_node_neighbourhood_with_its_edge_weights(served):
    client, registry, _, _ = served
    task = registry["karate"].run.task
    node = task.graph.names[33]
    body = client.post("/api/runs/karate/predict", json={"input": node}).json
    nb = body["view"]
    i = task.index[node]
    edges = task.edge_index
    expected = sorted({task.graph.names[int(j)] for j in edges[0, edges[1] == i]} | {node})  # GAT adds self-loops
    assert sorted(nb["neighbours"]) == expected and len(nb["neighbours"]) == len(expected)
    assert nb["node"] == node and nb["class"] == body["output"] and nb["neighbours"][nb["self"]] == node
    assert nb["classes"] == [task.classes[int(task.labels[task.index[n]])] for n in nb["neighbours"]]
    assert len(nb["layers"]) == 2
    for m in nb["layers"]:  # (K, Nh): each head's weights over the node's incoming edges sum to 1
        w = tensor(m)
        assert w.shape[0] == len(expected) and (w >= 0).all()
        torch.testing.assert_close(w.sum(0), torch.ones(w.shape[1], dtype=torch.float64), atol=1e-4, rtol=0)
    # against the model: the last layer's weights of the edges j -> node
    out = registry["karate"].run.model(task.features, task.edge_index, need_weights=True)
    into = (out.edge_index[1] == i).nonzero().squeeze(1)
    ref = {
        task.graph.names[int(j)]: out.layer_weights[-1][e].detach().double()
        for e, j in zip(into, out.edge_index[0, into])
    }
    for name, row in zip(nb["neighbours"], tensor(nb["layers"][-1])):
        torch.testing.assert_close(row, ref[name].view(-1), atol=1e-5, rtol=0)
    assert not {"neighbours", "edge_weights", "neighbour_classes"} & set(body["fields"])
    assert body["fields"]["node"] == node


def test_a_picture_over_the_answer_limit_is_refused(served):
    _, registry, png, _ = served
    tiny = create_app(registry, limits=Limits(max_cells=500)).test_client()  # the 28 x 28 picture alone is 784
    response = tiny.post("/api/runs/cbam/predict", json={"image": b64(png)})
    assert response.status_code == 413 and "more than 500 numbers" in response.json["error"]
