"""The per-word caption picture: one panel per word titled with it, drawn from arrays, reached
through plot_prediction by the prediction's fields; bad shapes are refused."""

from __future__ import annotations

import numpy as np
import pytest

from attnkit.tasks.captioning import CaptionPrediction
from attnkit.viz import plot_caption_attention, plot_prediction, save_figure


def test_one_panel_per_word(tmp_path):
    words = ["a", "bag", "next", "to", "a", "coat", "</s>"]
    maps = np.random.default_rng(0).random((len(words), 7, 7))
    fig = plot_caption_attention(
        np.zeros((84, 84), dtype=np.uint8), words, maps, boxes=[(2, 3, 30, 31)], title="a bag next to a coat", ncols=4
    )
    assert [ax.get_title() for ax in fig.axes] == ["input", *words]
    assert len(fig.axes[0].patches) == 1  # the box outline
    assert save_figure(fig, tmp_path / "words.png").stat().st_size > 0
    pred = CaptionPrediction("a bag", np.zeros((84, 84)), ["a", "bag", "</s>"], maps[:3], -1.0)
    assert [ax.get_title() for ax in plot_prediction(pred).axes] == ["input", "a", "bag", "</s>"]
    with pytest.raises(ValueError, match="no attention"):
        plot_prediction(CaptionPrediction("a bag", np.zeros((84, 84)), ["a", "bag", "</s>"], None, -1.0))


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match="one \\(h, w\\) map per word"):
        plot_caption_attention(np.zeros((84, 84)), ["a", "bag"], np.ones((3, 7, 7)))
    with pytest.raises(ValueError, match="non-negative"):
        plot_caption_attention(np.zeros((84, 84)), ["a"], -np.ones((1, 7, 7)))
    with pytest.raises(ValueError, match="ncols"):
        plot_caption_attention(np.zeros((84, 84)), ["a"], np.ones((1, 7, 7)), ncols=0)
