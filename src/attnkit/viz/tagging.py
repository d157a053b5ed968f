"""A tagged sentence (kind ``tagging``): each word with its tags, and which words each word
attended to when it was tagged; its JSON and the explorer's drawing code.

The picture: the words with their tags in two columns and a line from each word on the left (the
word being tagged) to each word on the right it attends to, opacity = weight (the head view of
[Vig19], one colour per head), beside the heatmap of the same map (rows: the word tagged,
columns: the words attended to). The layer is the prediction's ``layer`` (the task's input option
``layer``, default the last); the heads are the mean or one head (``attnkit predict
--attention-heads``). A model without self-attention (the dictionary tagger, a BiLSTM) gets the
words and their tags alone.

References:
    [Vig19] J. Vig. A Multiscale Visualization of Attention in the Transformer Model. ACL 2019
    (System Demonstrations). arXiv:1906.05714.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..heads import HeadChoice, select_heads
from .alignment import _font_family, display_token
from .head_view import plot_head_view

__all__ = ["plot_tagging", "tagging_json", "labelled_words", "SCRIPT"]

SCRIPT = Path(__file__).resolve().parents[1] / "explore" / "static" / "tagging.js"


def labelled_words(pred: Any) -> list[str]:
    """Each word with its tags, ``word  TAG/TAG``."""
    return [f"{w}  {'/'.join(pred.tags[t][i] for t in pred.tags)}" for i, w in enumerate(pred.words)]


def plot_tagging(pred: Any, title: str | None = None, heads: HeadChoice = "mean") -> Figure:
    """The picture of a :class:`attnkit.tasks.tagging_prediction.TaggingPrediction`.

    Args:
        pred: the prediction (``words``, ``tags``, ``weights`` (L, Nh, T, T), ``layer``).
        title: the figure's title (its first line, before any " → ", is used).
        heads: ``"mean"`` or a head index.

    Raises:
        ValueError: for weights that are not (L, Nh, T, T) with T words, a layer or head out of range.
    """
    w = np.asarray(pred.weights, dtype=np.float64)
    n = len(pred.words)
    family = _font_family()
    labels = labelled_words(pred)
    title = title.splitlines()[0].split(" → ")[0] if title else None  # the printed lines are the picture itself
    if w.ndim != 4 or (w.shape[0] and w.shape[2:] != (n, n)):
        raise ValueError(f"tagging weights of shape {w.shape} do not match (L, Nh, T, T) with T={n}")
    if w.shape[0] == 0:  # no self-attention: the words and their tags
        fig = Figure(figsize=(max(3.0, 0.9 * n + 0.6), 1.6), layout="constrained")
        ax = fig.subplots()
        for i, word in enumerate(pred.words):
            ax.text(i, 1, display_token(word), ha="center", va="center", fontsize=11, fontfamily=family)
            for k, t in enumerate(pred.tags):
                ax.text(i, 0.45 - 0.4 * k, pred.tags[t][i], ha="center", va="center", fontsize=8, color="#1f4e79")
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(-0.2 - 0.4 * len(pred.tags), 1.4)
        ax.axis("off")
        if title:
            ax.set_title(title, fontsize=10, fontfamily=family)
        return fig
    layer = int(getattr(pred, "layer", -1))
    if not -w.shape[0] <= layer < w.shape[0]:
        raise ValueError(f"layer {layer} is out of range: this model has {w.shape[0]} self-attention layers")
    layer %= w.shape[0]
    chosen = None if heads == "mean" else [int(heads)]
    which = f"mean of {w.shape[1]} heads" if heads == "mean" else f"head {heads}"
    height = min(30.0, max(3.0, 0.28 * n + 1.2))
    fig = Figure(figsize=(5.2 + min(10.0, 0.3 * n + 2.5), height), layout="constrained")
    line_ax, map_ax = fig.subplots(1, 2, width_ratios=[5.2, min(10.0, 0.3 * n + 2.5)])
    # the words alone beside the lines (the heatmap's rows carry the tags): long labels would leave the axes
    plot_head_view(
        w[layer], list(pred.words), heads=chosen, title=f"layer {layer} of 0..{w.shape[0] - 1}, {which}", ax=line_ax
    )
    m = select_heads(w[layer], heads)
    image = map_ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    shown = [display_token(word) for word in pred.words]
    map_ax.set_xticks(range(n), shown, rotation=90, fontsize=7, fontfamily=family)
    map_ax.set_yticks(range(n), [display_token(s) for s in labels], fontsize=7, fontfamily=family)
    map_ax.set_xlabel("attended to")
    map_ax.set_ylabel("word tagged")
    fig.colorbar(image, ax=map_ax, shrink=0.6, label="weight")
    if title:
        fig.suptitle(title, fontsize=10, fontfamily=family)
    return fig


def tagging_json(pred: Any, budget: Any) -> dict[str, Any]:
    """``{"words", "tags": {target: T tags}, "probabilities": {target: T}, "unseen": T booleans,
    "layer": the layer shown, "weights": (L, Nh, T, T) every layer and head or null without
    self-attention}`` (matrices as :meth:`attnkit.viz.views.Budget.matrix`)."""
    w = np.asarray(pred.weights, dtype=np.float32)
    return {
        "words": list(pred.words),
        "tags": {t: list(v) for t, v in pred.tags.items()},
        "probabilities": {t: [round(float(p), 5) for p in v] for t, v in pred.probabilities.items()},
        "unseen": [bool(u) for u in pred.unseen],
        "layer": int(getattr(pred, "layer", -1)),
        "weights": budget.matrix(w) if w.ndim == 4 and w.shape[0] else None,
    }
