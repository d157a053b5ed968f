"""The views registry: every built-in kind has a view, found by the prediction's kind (never by its
fields); each view's JSON carries every attention array with the tokens it refers to, and its
picture is the one plot_prediction draws."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch

from attnkit.decoding import Translation
from attnkit.predictions import BUILTIN_KINDS, TEXT_ALIGNMENT
from attnkit.tasks.graph_nodes import NodePrediction
from attnkit.tasks.spoken_dates import SpokenDatePrediction
from attnkit.viz import VIEWS, Budget, View, plot_prediction, prediction_json, view_of


def test_every_builtin_kind_has_a_view():
    assert set(BUILTIN_KINDS) <= set(VIEWS.names())
    for kind in BUILTIN_KINDS:
        assert VIEWS.get(kind).kind == kind


def test_the_view_is_chosen_by_kind_not_by_fields():
    @dataclass
    class LooksLikeAnAlignment:  # an alignment's fields, but another kind
        kind: ClassVar[str] = "graph-neighbourhood"
        output: str
        weights: object
        src_tokens: list
        out_tokens: list

    assert view_of(LooksLikeAnAlignment("x", None, [], [])).kind == "graph-neighbourhood"

    @dataclass
    class NoKind:
        output: str

    with pytest.raises(ValueError, match="NoKind declares no kind"):
        view_of(NoKind("x"))

    @dataclass
    class Unknown:
        kind: ClassVar[str] = "no-such-kind"
        output: str

    with pytest.raises(ValueError, match="unknown prediction view 'no-such-kind'"):
        plot_prediction(Unknown("x"))


def test_a_translation_json_has_every_head_and_its_tokens():
    weights = torch.softmax(torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0)), -1)  # (Nh, To, Tk)
    t = Translation("ab", ["<en>", "a", "b", "</s>"], ["x", "y", "</s>"], weights, 0)
    out = prediction_json(t)
    assert (out["kind"], out["output"]) == (TEXT_ALIGNMENT, "ab")
    assert out["src_tokens"] == t.src_tokens and out["out_tokens"] == t.out_tokens
    assert out["weights"]["shape"] == [2, 3, 4]
    np.testing.assert_allclose(np.array(out["weights"]["data"]).reshape(2, 3, 4), weights.numpy(), atol=1e-5)
    assert VIEWS.get(TEXT_ALIGNMENT).n_heads(t) == 2
    assert (
        VIEWS.get(TEXT_ALIGNMENT).n_heads(dataclasses.replace(t, weights=weights[0])) == 0
    )  # single-head: no head axis


def test_graph_json_keeps_every_layer_and_head_and_the_picture_reads_the_last():
    w1, w2 = torch.tensor([[0.2, 0.5], [0.8, 0.5]]), torch.tensor([[0.9, 0.3], [0.1, 0.7]])  # (K, Nh) per layer
    pred = NodePrediction("Hi", 0.9, "a", ["a", "b"], [w1, w2], ["Hi", "Officer"])
    out = prediction_json(pred)
    assert [m["shape"] for m in out["layers"]] == [[2, 2], [2, 2]]
    assert out["neighbours"] == ["a", "b"] and out["classes"] == ["Hi", "Officer"] and out["self"] == 0
    assert VIEWS.get("graph-neighbourhood").n_heads(pred) == 2
    fig = plot_prediction(pred, heads=1)
    assert "last layer, head 1" in fig.axes[0].get_title()


def test_spoken_date_json_carries_the_mean_and_every_head():
    weights = torch.softmax(torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(1)), -1)
    pred = SpokenDatePrediction("1979", ["1", "9", "</s>"], weights, np.zeros((20, 4)), 0.01, 0.04)
    out = prediction_json(pred)
    np.testing.assert_allclose(np.array(out["weights"]["data"]).reshape(3, 5), weights.mean(0).numpy(), atol=1e-5)
    assert out["heads"]["shape"] == [2, 3, 5] and out["tokens"] == ["1", "9", "</s>"]
    assert out["seconds"] == pytest.approx(0.2)


def test_a_budget_stops_arrays_beyond_it():
    budget = Budget(10)
    assert budget.matrix(np.ones((2, 3)))["shape"] == [2, 3] and not budget.exceeded
    assert budget.matrix(np.ones((2, 3))) is None and budget.exceeded


def test_a_registered_view_draws_and_serialises_its_kind():
    calls = []

    @dataclass
    class Dots:
        kind: ClassVar[str] = "test-dots"
        output: str
        dots: list

    def plot(pred, title, heads):
        from matplotlib.figure import Figure

        calls.append((pred, title, heads))
        return Figure()

    VIEWS.register(
        "test-dots", View("test-dots", plot, lambda p, b: {"dots": b.matrix(p.dots)}, script="/* js */"), "dots (test)"
    )
    try:
        pred = Dots("o", [0.5, 0.5])
        plot_prediction(pred, title="t", heads=0)
        assert calls == [(pred, "t", 0)]
        assert prediction_json(pred) == {"kind": "test-dots", "output": "o", "dots": {"shape": [2], "data": [0.5, 0.5]}}
        assert VIEWS.get("test-dots").script_source() == "/* js */"
    finally:
        VIEWS.unregister("test-dots")
    assert "test-dots" not in VIEWS
