"""The attention matrix with gold word links drawn on it: hits, misses and false links marked apart.

The classic figure of the alignment literature (e.g. [Garg19] Fig. 1, [Bahdanau15] Fig. 3 with
the reference alignment): the heatmap of word-level attention, target words down the rows and
source words across, with each gold link the model's links found (hit: a square outline and a
dot), each gold link they missed (miss: a square outline alone) and each link not in the gold
(false link: a cross). Shapes differ as well as colours, so the picture reads in grey too.

References:
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
    [Garg19] S. Garg, S. Peitz, U. Nallasamy, M. Paulik. Jointly Learning to Align and Translate
    with Transformer Models. EMNLP 2019. arXiv:1909.02074.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .alignment import plot_alignment

__all__ = ["plot_links", "LINK_STYLES"]

# kind -> matplotlib marker options; (i, j) is drawn at x = i (source word), y = j (target word)
LINK_STYLES: dict[str, dict[str, Any]] = {
    "hit": {
        "marker": "s",
        "markersize": 11,
        "markerfacecolor": "none",
        "markeredgecolor": "#1a9850",
        "markeredgewidth": 2.0,
        "linestyle": "none",
    },
    "hit-dot": {"marker": "o", "markersize": 4, "color": "#1a9850", "linestyle": "none"},
    "miss": {
        "marker": "s",
        "markersize": 11,
        "markerfacecolor": "none",
        "markeredgecolor": "#2166ac",
        "markeredgewidth": 1.5,
        "linestyle": "none",
    },
    "false": {"marker": "x", "markersize": 8, "color": "#d73027", "markeredgewidth": 2.0, "linestyle": "none"},
}


def plot_links(
    weights: np.ndarray | Sequence[Sequence[float]],
    src_words: Sequence[str],
    tgt_words: Sequence[str],
    *,
    gold: Iterable[tuple[int, int]],
    predicted: Iterable[tuple[int, int]],
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Word-level attention with the gold links and the predicted links marked on it.

    Args:
        weights: (J, I) attention of J target words over I source words, in [0, 1] (a torch
            tensor works too).
        src_words: the I source words (x axis).
        tgt_words: the J target words (y axis).
        gold: gold links (i, j): source word i, target word j (0-based).
        predicted: the model's links, same convention.
        ax: axes to draw into; a new figure is made when None.
        title: optional title; the counts of hits, misses and false links are added to it.

    Returns:
        The figure.

    Raises:
        ValueError: if the weights do not match the words, or a link lies outside the matrix.
    """
    w = np.asarray(weights, dtype=float)
    gold, predicted = set(gold), set(predicted)
    for name, links in (("gold", gold), ("predicted", predicted)):
        bad = [(i, j) for i, j in links if not (0 <= i < len(src_words) and 0 <= j < len(tgt_words))]
        if bad:
            raise ValueError(
                f"{name} link {bad[0][0]}-{bad[0][1]} lies outside {len(src_words)} source and "
                f"{len(tgt_words)} target words"
            )
    hits, misses, false = gold & predicted, gold - predicted, predicted - gold
    counts = f"{len(hits)} hits, {len(misses)} misses, {len(false)} false links"
    if ax is None:  # room for the legend under the matrix and a two-line title
        fig = Figure(
            figsize=(max(6.0, 0.34 * len(src_words) + 2.4), max(4.5, 0.34 * len(tgt_words) + 2.6)), layout="constrained"
        )
        ax = fig.add_subplot()
    fig = plot_alignment(w, src_words, tgt_words, ax=ax, title=f"{title}\n{counts}" if title else counts)
    for kind, links in (("hit", hits), ("hit-dot", hits), ("miss", misses), ("false", false)):
        if links:
            xs, ys = zip(*sorted(links))
            ax.plot(xs, ys, **LINK_STYLES[kind])
    ax.set_xlim(-0.5, len(src_words) - 0.5)
    ax.set_ylim(len(tgt_words) - 0.5, -0.5)
    handles = [
        Line2D([], [], **{**LINK_STYLES["hit"], "marker": "s"}, label="hit (gold, found)"),
        Line2D([], [], **LINK_STYLES["miss"], label="miss (gold, not found)"),
        Line2D([], [], **LINK_STYLES["false"], label="false link (found, not gold)"),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=7, frameon=False)
    return fig
