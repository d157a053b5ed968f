"""A caption's attention word by word: the picture once per word, with the attention of the step
that emitted that word over it, as in [Xu15] Figs. 2-3.

References:
    [Xu15] K. Xu et al. Show, Attend and Tell: Neural Image Caption Generation with Visual
    Attention. ICML 2015. arXiv:1502.03044.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .image import plot_image_attention

__all__ = ["plot_caption_attention"]


def plot_caption_attention(
    image,
    words: Sequence[str],
    maps,
    *,
    boxes: Sequence[Sequence[int]] | None = None,
    title: str | None = None,
    ncols: int = 5,
    alpha: float = 0.6,
) -> Figure:
    """The input picture, then one panel per word with that word's attention over the picture.

    Args:
        image: (H, W) greyscale (uint8, or floats; see :func:`attnkit.viz.plot_image_attention`).
        words: To words (e.g. the caption's tokens, then ``</s>``), one per panel.
        maps: (To, h, w) non-negative attention over the annotation grid, one map per word;
            upsampled bilinearly over the whole picture, each panel scaled to its own maximum.
        boxes: optional item boxes ``(x0, y0, x1, y1)`` in pixels (end-exclusive), outlined on
            the input panel.
        title: the figure's title.
        ncols: panels per row, >= 1.
        alpha: opacity of the attention, in [0, 1].

    Returns:
        The figure, with 1 + To axes: the input, then the words in order.

    Raises:
        ValueError: if `maps` is not (To, h, w) with To = len(words), is negative or not finite,
            `words` is empty, or `ncols` < 1.
    """
    heat = np.asarray(maps, dtype=float)
    if heat.ndim != 3 or len(heat) != len(words) or not len(words):
        raise ValueError(f"need one (h, w) map per word: {len(words)} words, maps of shape {heat.shape}")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    panels = len(words) + 1
    cols = min(ncols, panels)
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(2.0 * cols, 2.15 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    picture = np.asarray(image)
    axes[0].imshow(picture, cmap="gray", vmin=0, vmax=255 if picture.dtype == np.uint8 else 1)
    for x0, y0, x1, y1 in boxes or ():
        axes[0].add_patch(
            Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="tab:orange", linewidth=1.2)
        )
    axes[0].set_title("input", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    for p, ax in enumerate(axes[1:]):
        if p >= len(words):
            fig.delaxes(ax)
            continue
        plot_image_attention(picture, heat[p], title=words[p], alpha=alpha, ax=ax)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
