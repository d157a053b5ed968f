"""A grid of attention heatmaps: one row per layer, one column per head."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure, SubFigure

from .alignment import _font_family, display_token

__all__ = ["plot_attention_grid"]


def plot_attention_grid(
    weights: np.ndarray | Sequence,
    key_tokens: Sequence[str],
    query_tokens: Sequence[str],
    *,
    title: str | None = None,
    cell_inches: float = 0.16,
    into: Figure | SubFigure | None = None,
    max_labelled: int = 60,
) -> Figure:
    """Heatmaps of per-layer, per-head attention weights, probabilities fixed to [0, 1].

    Args:
        weights: (L, Nh, Tq, Tk) weights of L layers and Nh heads (a torch tensor works too).
        key_tokens: the Tk tokens attended to (x axis of every panel).
        query_tokens: the Tq tokens attending (y axis of every panel).
        title: optional figure title.
        cell_inches: size of one token cell, in inches.
        into: a figure or subfigure to draw in (its size is left as it is); None: a new figure.
        max_labelled: token labels on the axes only up to this many tokens (a 512-token axis of
            labels in every panel is unreadable and slow to draw).

    Returns:
        The figure (the one that holds `into` when given); panel (l, h) is titled
        "layer l, head h" (0-based, as everywhere in attnkit).

    Raises:
        ValueError: if `weights` is not 4-D or does not match the token counts.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 4 or w.shape[2:] != (len(query_tokens), len(key_tokens)):
        raise ValueError(
            f"weights of shape {w.shape} do not match (L, Nh, Tq, Tk) with Tq="
            f"{len(query_tokens)} and Tk={len(key_tokens)}"
        )
    n_layers, n_heads = w.shape[:2]
    panel_w = max(1.6, cell_inches * len(key_tokens) + 0.7)
    panel_h = max(1.4, cell_inches * len(query_tokens) + 0.7)
    fig = (
        Figure(figsize=(panel_w * n_heads + 0.8, panel_h * n_layers + 0.6), layout="constrained")
        if into is None
        else into
    )
    labelled = max(len(key_tokens), len(query_tokens)) <= max_labelled
    axes = fig.subplots(n_layers, n_heads, squeeze=False)
    family = _font_family()
    image = None
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            image = ax.imshow(
                w[layer, head],
                cmap="gray_r",
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest" if labelled else "antialiased",  # many tokens: filtered, not sampled
            )
            if not labelled:
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"L{layer} H{head}", fontsize=6)  # 0-based, as the CLI and explorer
                continue
            ax.set_xticks(
                range(len(key_tokens)),
                [display_token(t) for t in key_tokens],
                fontsize=5,
                rotation=90,
                fontfamily=family,
            )
            ax.set_yticks(
                range(len(query_tokens)), [display_token(t) for t in query_tokens], fontsize=5, fontfamily=family
            )
            ax.set_title(f"layer {layer}, head {head}", fontsize=7)
    if image is not None:  # always: there is at least one panel
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    if title:
        fig.suptitle(title, fontsize=9, fontfamily=family)
    return fig if isinstance(fig, Figure) else fig.figure
