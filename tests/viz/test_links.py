"""The gold-links picture: hits, misses and false links drawn where they are, with different marks."""

from __future__ import annotations

import numpy as np
import pytest

from attnkit.viz import plot_links, save_figure


def _points(ax, marker, color=None):
    out = set()
    for line in ax.lines:
        if line.get_marker() == marker and (color is None or line.get_markeredgecolor() == color):
            out |= {(int(x), int(y)) for x, y in zip(line.get_xdata(), line.get_ydata())}
    return out


def test_hits_misses_and_false_links_are_marked_apart(tmp_path):
    w = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1]])  # 2 target words x 3 source words
    gold = {(0, 0), (1, 1), (2, 1)}
    predicted = {(0, 0), (1, 1), (2, 0)}
    fig = plot_links(w, ["α", "β", "γ"], ["a", "b"], gold=gold, predicted=predicted, title="verse")
    ax = fig.axes[0]
    assert _points(ax, "o") == {(0, 0), (1, 1)}  # hits carry a dot
    assert _points(ax, "x") == {(2, 0)}  # the false link
    assert _points(ax, "s", "#2166ac") == {(2, 1)}  # the miss: an outline alone
    assert "2 hits, 1 misses, 1 false links" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 3
    assert save_figure(fig, tmp_path / "links.png").stat().st_size > 0


def test_links_outside_the_matrix_are_refused():
    with pytest.raises(ValueError, match="gold link 3-0 lies outside 3 source and 2 target words"):
        plot_links(np.zeros((2, 3)), ["a", "b", "c"], ["x", "y"], gold={(3, 0)}, predicted=set())
