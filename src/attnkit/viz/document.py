"""Hierarchical attention shown on the text: words and sentences shaded by their weights, as in
[Yang16] Fig. 5.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention
    Networks for Document Classification. NAACL 2016. ACL Anthology N16-1174.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from .alignment import _font_family

__all__ = ["plot_document_attention"]


def plot_document_attention(
    sentences: Sequence[Sequence[str]],
    word_weights: np.ndarray | Sequence[Sequence[float]],
    sentence_weights: np.ndarray | Sequence[float],
    *,
    title: str | None = None,
    max_words: int = 24,
    max_sentences: int = 80,
) -> Figure:
    """One line per sentence: a box shaded by the sentence weight (blue), then its words, each
    shaded by its word weight (red); weights are probabilities in [0, 1].

    Args:
        sentences: the S sentences, each a list of words.
        word_weights: (S, W) word weights, W >= the longest sentence; row s covers sentence s.
        sentence_weights: (S,) sentence weights.
        title: optional title (e.g. the predicted and true class).
        max_words: words shown per line; longer sentences end with "…".
        max_sentences: sentences drawn (the first ones); a last line says how many more there
            are (a long input shown in lines, e.g. ListOps' 2,000 tokens, stays a readable size).

    Returns:
        The figure.

    Raises:
        ValueError: if the weights do not cover the sentences.
    """
    ww, sw = np.asarray(word_weights, dtype=float), np.asarray(sentence_weights, dtype=float)
    if (
        sw.shape != (len(sentences),)
        or ww.ndim != 2
        or ww.shape[0] != len(sentences)
        or any(len(s) > ww.shape[1] for s in sentences)
    ):
        raise ValueError(
            f"weights of shapes {ww.shape} and {sw.shape} do not cover {len(sentences)} sentences "
            "of at most W words; expected (S, W) and (S,)"
        )
    rows = min(len(sentences), max_sentences) + (len(sentences) > max_sentences)
    fig = Figure(figsize=(11, 0.42 * rows + 0.8), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(0, 1)
    ax.set_ylim(rows, -0.5)
    ax.axis("off")
    reds, blues, family = colormaps["Reds"], colormaps["Blues"], _font_family()
    if len(sentences) > max_sentences:
        more = len(sentences) - max_sentences
        ax.text(0.0, max_sentences, f"… {more} more sentence{'s' * (more > 1)} not drawn", fontsize=8, va="center")
    for s, words in enumerate(sentences[:max_sentences]):
        ax.text(
            0.0,
            s,
            f"{sw[s]:.2f}",
            fontsize=8,
            va="center",
            family=family,
            color="white" if sw[s] > 0.5 else "black",
            bbox={"facecolor": blues(sw[s]), "edgecolor": "none", "pad": 2},
        )
        shown = list(words[:max_words]) + (["…"] if len(words) > max_words else [])
        x = 0.06
        for w, word in enumerate(shown):
            weight = ww[s, w] if w < len(words) else 0.0
            ax.text(
                x,
                s,
                word,
                fontsize=8,
                va="center",
                family=family,
                bbox={"facecolor": reds(weight * 0.9), "edgecolor": "none", "pad": 1.5},
            )
            x += 0.0085 * (len(word) + 1) + 0.004
    if title:
        ax.set_title(title, fontsize=9, family=family)
    return fig
