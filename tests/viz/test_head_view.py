"""The self-attention view: its JSON carries every layer and head (and the explanations) and reads
back to the same arrays; the head view's lines are the weights of the formula written out here
(every (head, query, key) with weight >= 0.01, from (0, i) to (1, j), opacity = weight); the grid
shows each layer's and head's map; the picture writes PNG and SVG; the explorer's part of a large
prediction keeps the focused layer whole and block means of every map. Every built-in kind's
picture writes SVG as well as PNG."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb

from attnkit.decoding import Translation
from attnkit.predictions import BUILTIN_KINDS, SELF_ATTENTION
from attnkit.tasks.bible_sections import DocumentPrediction
from attnkit.tasks.captioning import CaptionPrediction
from attnkit.tasks.graph_nodes import NodePrediction
from attnkit.tasks.images import ImagePrediction
from attnkit.tasks.self_attention import SelfAttentionPrediction
from attnkit.tasks.spoken_dates import SpokenDatePrediction
from attnkit.tasks.spoken_words import SpokenWordPrediction
from attnkit.tasks.tagging_prediction import tagging_prediction
from attnkit.viz import VIEWS, Budget, plot_prediction, prediction_json, save_figure
from attnkit.viz.head_view import HEAD_COLOURS, MIN_WEIGHT, plot_head_view, thumbnails


def weights(L: int, nh: int, t: int, seed: int = 0, sharp: float = 2.0) -> np.ndarray:
    g = np.random.default_rng(seed)
    e = np.exp(sharp * g.normal(size=(L, nh, t, t)))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def prediction(L=2, nh=3, t=5, explanations=None, causal=False) -> SelfAttentionPrediction:
    tokens = ["[CLS]", *[f"w{i}" for i in range(t - 2)], "[SEP]"]
    return SelfAttentionPrediction("out", tokens, weights(L, nh, t), causal, t, explanations or {})


def test_the_kind_is_builtin_and_its_view_is_registered():
    assert SELF_ATTENTION in BUILTIN_KINDS and VIEWS.get(SELF_ATTENTION).kind == SELF_ATTENTION
    assert VIEWS.get(SELF_ATTENTION).n_heads(prediction(nh=3)) == 3
    script = VIEWS.get(SELF_ATTENTION).script_source()
    assert script is not None and 'attnkitViews["self-attention"]' in script


def test_json_round_trips_every_layer_head_and_explanation():
    rollout = np.random.default_rng(1).random((5, 5)).astype(np.float32)
    pred = prediction(explanations={"rollout": rollout})
    out = prediction_json(pred)  # attnkit predict --json: number lists, 5 decimals
    assert (out["kind"], out["output"], out["tokens"], out["causal"], out["prompt_length"]) == (
        SELF_ATTENTION,
        "out",
        pred.tokens,
        False,
        5,
    )
    assert out["weights"]["shape"] == [2, 3, 5, 5]
    np.testing.assert_allclose(np.reshape(out["weights"]["data"], (2, 3, 5, 5)), pred.weights, atol=5e-6)
    np.testing.assert_allclose(np.reshape(out["explanations"]["rollout"]["data"], (5, 5)), rollout, atol=5e-6)
    json.dumps(out)  # plain JSON
    binary = prediction_json(pred, Budget(binary=True))  # the explorer's float32, exactly
    read = np.frombuffer(base64.b64decode(binary["weights"]["base64"]), "<f4").reshape(binary["weights"]["shape"])
    np.testing.assert_array_equal(read, pred.weights)
    e = binary["explanations"]["rollout"]
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(e["base64"]), "<f4").reshape(5, 5), rollout)


def test_the_head_view_draws_a_line_per_weight_as_the_formula_says():
    w = weights(1, 3, 6, seed=2)[0]  # (Nh, T, T)
    tokens = [f"t{i}" for i in range(6)]
    fig = plot_head_view(w, tokens, heads=[0, 2])
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    expected = [  # written out: every chosen head, query i, key j with a visible weight
        ((0.0, i), (1.0, j), h, float(w[h, i, j]))
        for h in (0, 2)
        for i in range(6)
        for j in range(6)
        if w[h, i, j] >= MIN_WEIGHT
    ]
    segments, colours = lines.get_segments(), lines.get_colors()
    assert len(segments) == len(expected) > 0
    for seg, rgba, (start, end, h, value) in zip(segments, colours, expected):
        np.testing.assert_allclose(seg, [start, end])
        np.testing.assert_allclose(rgba[:3], to_rgb(HEAD_COLOURS[h]))
        assert rgba[3] == pytest.approx(value)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [s for t in tokens for s in (t, t)]  # both columns
    with pytest.raises(ValueError, match="head 3 is out of range"):
        plot_head_view(w, tokens, heads=[3])
    with pytest.raises(ValueError, match="do not match"):
        plot_head_view(w, tokens[:-1])


def test_the_picture_has_the_head_view_of_the_last_layer_and_every_map_in_the_grid(tmp_path):
    pred = prediction(L=2, nh=3, t=5)
    fig = plot_prediction(pred, title="a title", heads=1)
    head_axes = [ax for ax in fig.axes if ax.get_title() == "layer 1, head 1 of 0..2"]
    assert len(head_axes) == 1
    (lines,) = [c for c in head_axes[0].collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == int((pred.weights[-1, 1] >= MIN_WEIGHT).sum())
    panels = {ax.get_title(): ax for ax in fig.axes if ax.images}
    assert len(panels) == 6
    for layer in range(2):
        for head in range(3):
            shown = panels[f"layer {layer}, head {head}"].images[0].get_array()  # 0-based titles
            np.testing.assert_allclose(shown, pred.weights[layer, head], atol=1e-6)
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        path = save_figure(fig, tmp_path / f"sa{suffix}")
        assert path.read_bytes().startswith(magic)
    assert "a title" in (tmp_path / "sa.svg").read_text()
    with pytest.raises(ValueError, match="head 3 is out of range"):
        plot_prediction(pred, heads=3)


def test_with_an_explanation_the_picture_draws_it():
    rollout = np.full((5, 5), 0.2, dtype=np.float32)
    rollout[:, 0] = 0.6
    rollout[:, 1:] = 0.1
    fig = plot_prediction(prediction(explanations={"rollout": rollout}))
    assert [ax.get_title() for ax in fig.axes if ax.collections and not ax.images][0] == "rollout"
    line_ax = next(ax for ax in fig.axes if ax.get_title() == "rollout")
    (lines,) = [c for c in line_ax.collections if isinstance(c, LineCollection)]
    np.testing.assert_allclose(sorted(lines.get_colors()[:, 3]), sorted(rollout.ravel()), atol=1e-6)
    heat = next(ax for ax in fig.axes if ax.images)
    np.testing.assert_allclose(heat.images[0].get_array(), rollout)


def test_thumbnails_are_block_sums_over_keys_averaged_over_queries():
    w = weights(1, 1, 10, seed=3)[0, 0]
    t = thumbnails(w, size=4)
    edges = [0, 2, 5, 7, 10]  # (i * 10) // 4 for i = 0..3, then 10
    for a in range(4):
        for b in range(4):
            block = w[edges[a] : edges[a + 1], edges[b] : edges[b + 1]]
            assert t[a, b] == pytest.approx(block.sum(1).mean(), rel=1e-6)
    np.testing.assert_allclose(t.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(thumbnails(w, size=64), w)  # small maps stay as they are


def test_the_explorers_part_keeps_the_focused_layer_whole_and_thumbnails_of_all():
    page_json = VIEWS.get(SELF_ATTENTION).page_json
    assert page_json is not None
    pred = prediction(L=4, nh=2, t=200, explanations={"rollout": np.eye(200, dtype=np.float32)})
    everything = page_json(pred, Budget(None, binary=True), {})
    assert sorted(everything["layers"], key=int) == ["0", "1", "2", "3"] and everything["thumbs"] is None
    assert everything["layer"] == 3 and (everything["n_layers"], everything["n_heads"]) == (4, 2)
    per_layer = 2 * 200 * 200
    budget = Budget(200 * 200 + 4 * 2 * 64 * 64 + 2 * per_layer, binary=True)  # explanation, thumbnails, two layers
    part = page_json(pred, budget, {"layer": 1})
    assert sorted(part["layers"], key=int) == ["0", "1"] and not budget.exceeded  # layer 1, then the nearest
    read = lambda m: np.frombuffer(base64.b64decode(m["base64"]), "<f4").reshape(m["shape"])  # noqa: E731
    np.testing.assert_array_equal(read(part["layers"]["1"]), pred.weights[1])
    np.testing.assert_allclose(read(part["thumbs"]), thumbnails(pred.weights), rtol=1e-6)
    assert part["thumbs"]["shape"] == [4, 2, 64, 64]
    with pytest.raises(ValueError, match="layer 4 is out of range"):
        page_json(pred, Budget(None, binary=True), {"layer": 4})
    with pytest.raises(ValueError, match="layer -5 is out of range"):
        page_json(pred, Budget(None, binary=True), {"layer": -5})
    assert page_json(pred, Budget(None, binary=True), {"layer": -3})["layer"] == 1  # counted from the last
    too_small = Budget(per_layer // 2, binary=True)
    page_json(pred, too_small, {})
    assert too_small.exceeded  # the explorer refuses the answer (413) rather than send no layer


def test_every_builtin_kind_with_attention_writes_svg(tmp_path):
    g = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    image = rng.random((28, 28))
    examples = {
        "document": DocumentPrediction(
            "Psalms",
            0.9,
            [0.9, 0.1],
            [["the", "lord"], ["my", "shepherd"]],
            torch.rand(2, 2, generator=g),
            torch.rand(2),
        ),
        "image-overlay": ImagePrediction("shirt", 0.9, [0.9, 0.1], image, {"spatial": rng.random((7, 7))}),
        "caption": CaptionPrediction(
            "a red square", image, ["a", "red", "square", "</s>"], rng.random((4, 7, 7)), -1.0
        ),
        "spoken-word": SpokenWordPrediction(
            "one", 0.8, [0.8, 0.2], rng.random((40, 8)), 0.01, 0.04, np.full(10, 0.1), rng.random((10, 10))
        ),
        "text-alignment": Translation("ab", ["a", "b", "</s>"], ["x", "</s>"], torch.rand(2, 2, 3, generator=g), 0),
        "spectrogram-alignment": SpokenDatePrediction(
            "19", ["1", "9"], torch.rand(2, 2, 5, generator=g), np.zeros((20, 4)), 0.01, 0.04
        ),
        "graph-neighbourhood": NodePrediction(
            "Hi", 0.9, "a", ["a", "b"], [torch.rand(2, 2, generator=g)], ["Hi", "Lo"]
        ),
        "self-attention": prediction(),
        "tagging": tagging_prediction(
            ["a", "b"], {"pos": ["x", "y"]}, [False, True], weights=[rng.random((2, 2, 2)).astype(np.float32)]
        ),
    }
    assert set(examples) == set(BUILTIN_KINDS) - {"label"}  # a label carries no attention: no picture
    for kind, pred in examples.items():
        assert pred.kind == kind
        path = save_figure(plot_prediction(pred, title=f"{kind} é"), tmp_path / f"{kind}.svg")
        text = path.read_text()
        assert text.startswith("<?xml") and "<svg" in text, kind
