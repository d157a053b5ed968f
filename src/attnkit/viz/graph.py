"""A node's neighbourhood with its edges shaded by attention (graph attention networks).

Works on arrays and names only: the node in the centre, its neighbours on a circle, each edge
j -> i drawn with its weight alpha_ij as colour and width. Large neighbourhoods (a library
thousands of packages depend on) show the `top` most attended neighbours and say how many
there were.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

__all__ = ["plot_neighbourhood"]


def plot_neighbourhood(
    node: str,
    neighbours: Sequence[str],
    weights,
    *,
    labels: Sequence[str] | None = None,
    top: int = 24,
    title: str | None = None,
) -> Figure:
    """Draw `node` and the edges from its neighbours, shaded by attention weight.

    Args:
        node: the centre node's name.
        neighbours: the K nodes with an edge into it (the node itself when self-loops were added).
        weights: (K,) non-negative edge weights (e.g. one head's, or the mean of the heads').
        labels: K class names shown under the neighbours' names, or None.
        top: draw at most this many neighbours, the most attended first.
        title: the figure's title.

    Raises:
        ValueError: if `weights` does not have one value per neighbour or is negative.
    """
    w = np.asarray(weights, dtype=float).reshape(-1)
    if len(w) != len(neighbours) or (w < 0).any() or not np.isfinite(w).all():
        raise ValueError(f"need one non-negative weight per neighbour, got {len(w)} for {len(neighbours)}")
    order = np.argsort(-w, kind="stable")[:top]
    k = len(order)
    fig = Figure(figsize=(7.5, 7.5), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    vmax = max(float(w.max()) if len(w) else 1.0, 1e-12)
    for rank, j in enumerate(order):
        angle = 2 * math.pi * rank / max(k, 1)
        x, y = math.cos(angle), math.sin(angle)
        ax.plot([x, 0], [y, 0], color=cmap(w[j] / vmax), linewidth=0.8 + 5 * w[j] / vmax, zorder=1)
        text = neighbours[j] + (f"\n({labels[j]})" if labels is not None else "") + f"\n{w[j]:.3f}"
        ax.text(1.12 * x, 1.12 * y, text, ha="center", va="center", fontsize=7)
    ax.scatter([0], [0], s=400, color="tab:red", zorder=2)
    ax.text(0, -0.12, node, ha="center", va="top", fontsize=10, weight="bold")
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    shown = f"the {k} most attended of {len(w)} incoming edges" if k < len(w) else f"{len(w)} incoming edges"
    ax.set_title((title + "\n" if title else "") + shown, fontsize=9)
    return fig
