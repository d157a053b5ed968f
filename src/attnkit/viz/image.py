"""Attention on images: heat maps over pictures, channel weights per class [Hu18] Fig. 6, a
spatial transformer's inputs beside its outputs [Jaderberg15] Fig. 1, and confusion matrices.

Functions take arrays (numpy, or anything ``numpy.asarray`` takes, such as a CPU tensor) and
return a :class:`matplotlib.figure.Figure`; they never import models or call ``plt.show()``.

References:
    [Hu18] J. Hu, L. Shen, G. Sun. Squeeze-and-Excitation Networks. CVPR 2018. arXiv:1709.01507.
    [Jaderberg15] M. Jaderberg, K. Simonyan, A. Zisserman, K. Kavukcuoglu. Spatial Transformer
    Networks. NeurIPS 2015. arXiv:1506.02025.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .alignment import figure_of

__all__ = [
    "plot_image_attention",
    "plot_image_attention_grid",
    "plot_channel_weights",
    "plot_spatial_transformer",
    "plot_confusion",
    "sampling_outline",
]


def _as_picture(image) -> np.ndarray:
    """`image` as (H, W) or (H, W, 3) floats in [0, 1] for ``imshow``.

    uint8 is divided by 255; floats already in [0, 1] are kept, other floats (e.g. normalised
    network inputs) are rescaled min-max. (C, H, W) with C in {1, 3} is moved to channels-last.
    """
    x = np.asarray(image)
    if x.ndim == 3 and x.shape[-1] not in (1, 3) and x.shape[0] in (1, 3):
        x = np.moveaxis(x, 0, -1)  # (C, H, W) -> (H, W, C)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
        raise ValueError(f"image of shape {x.shape} is not (H, W), (H, W, 3) or (C, H, W) with C = 1 or 3")
    if x.dtype == np.uint8:
        return x / 255.0
    x = x.astype(float)
    if not np.isfinite(x).all():
        raise ValueError("image holds NaN or infinite values")
    lo, hi = x.min(initial=0.0), x.max(initial=0.0)
    if lo < 0.0 or hi > 1.0:
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return x


def _as_heat(heat) -> np.ndarray:
    h = np.asarray(heat, dtype=float)
    if h.ndim != 2 or not h.size:
        raise ValueError(f"heat of shape {h.shape} is not a non-empty (h, w) map")
    if not np.isfinite(h).all() or (h < 0).any():
        raise ValueError("heat must be finite and non-negative (attention weights, not logits)")
    return h


def _draw_overlay(ax: Axes, image, heat, *, alpha: float, cmap: str, marker) -> None:
    picture, h = _as_picture(image), _as_heat(heat)
    height, width = picture.shape[:2]
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    # the map spans the whole picture whatever its resolution; bilinear upsampling at draw time
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    ax.imshow(h, cmap=cmap, alpha=alpha, vmin=0.0, vmax=max(h.max(), 1e-12), extent=extent, interpolation="bilinear")
    if marker is not None:
        row, col = marker
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(f"marker {tuple(marker)} lies outside the {height}x{width} image; give (row, col) pixels")
        ax.plot([col], [row], marker="x", markersize=9, markeredgewidth=2.5, color="white")
        ax.plot([col], [row], marker="x", markersize=7, markeredgewidth=1.2, color="black")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_image_attention(
    image,
    heat,
    *,
    title: str | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
    marker: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """A spatial attention map drawn over the picture it attends to.

    Args:
        image: (H, W) greyscale, (H, W, 3) RGB or (C, H, W) with C in {1, 3}; uint8 in
            [0, 255], or floats (in [0, 1] shown as they are, otherwise rescaled min-max, so a
            normalised network input shows too).
        heat: (h, w) non-negative weights (e.g. a CBAM spatial map, one query's row of pixel
            self-attention, a ViT rollout over patches), any resolution: upsampled bilinearly to
            cover the whole picture; colours run from 0 to the map's maximum.
        title: optional title.
        alpha: opacity of the heat map, in [0, 1].
        cmap: a matplotlib colormap name.
        marker: ``(row, col)`` in picture pixels of a query position to mark with a cross (for
            the map of one query). A query at feature-map cell (i, j) of an (h, w) map sits at
            ``((i + 0.5) * H / h - 0.5, (j + 0.5) * W / w - 0.5)``.
        ax: axes to draw into; a new figure (one axes) is made when None.

    Returns:
        The figure.

    Raises:
        ValueError: if the image or heat has an unusable shape, the heat is negative or not
            finite, `alpha` is outside [0, 1], or the marker lies outside the picture.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if ax is None:
        fig = Figure(figsize=(3.2, 3.4), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax)
    _draw_overlay(ax, image, heat, alpha=alpha, cmap=cmap, marker=marker)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_image_attention_grid(
    images: Sequence,
    heats: Sequence,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    alpha: float = 0.5,
    cmap: str = "jet",
    markers: Sequence[tuple[float, float] | None] | None = None,
) -> Figure:
    """Several overlays side by side (e.g. a CBAM map, a non-local map of one query and a ViT
    rollout of the same picture, or one map per example), in rows of `ncols`.

    Args:
        images: P pictures, each as in :func:`plot_image_attention` (sizes may differ).
        heats: P (h, w) non-negative maps, one per picture.
        titles: P panel titles, or None.
        ncols: panels per row, >= 1.
        alpha, cmap: as in :func:`plot_image_attention`.
        markers: P query positions ``(row, col)`` or None each, or None for none.

    Returns:
        The figure, with exactly P axes (panel p is ``fig.axes[p]``).

    Raises:
        ValueError: if the lists differ in length or are empty, `ncols` < 1, or a panel is bad
            (as in :func:`plot_image_attention`).
    """
    n = len(images)
    lengths = {"images": n, "heats": len(heats)}
    if titles is not None:
        lengths["titles"] = len(titles)
    if markers is not None:
        lengths["markers"] = len(markers)
    if len(set(lengths.values())) != 1 or n == 0:
        raise ValueError(f"need the same non-zero number of each, got {lengths}")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(2.4 * cols, 2.5 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for p, ax in enumerate(axes):
        if p >= n:
            fig.delaxes(ax)
            continue
        plot_image_attention(
            images[p],
            heats[p],
            alpha=alpha,
            cmap=cmap,
            ax=ax,
            marker=None if markers is None else markers[p],
            title=None if titles is None else titles[p],
        )
    return fig


def plot_channel_weights(weights, labels, class_names: Sequence[str], *, title: str | None = None) -> Figure:
    """Mean channel-attention weight per channel index, one line per class, after [Hu18] Fig. 6
    (squeeze-and-excitation activations by class): classes sharing lines share channels.

    Args:
        weights: (N, C) channel gates of N examples, in [0, 1] (e.g. one SE block's sigmoid output).
        labels: (N,) class index of each example, in [0, len(class_names)).
        class_names: the class names; classes without examples are left out of the legend.
        title: optional title.

    Returns:
        The figure (one axes): x the channel index, y the mean weight in [0, 1]; a dashed black
        line is the mean over all examples.

    Raises:
        ValueError: if the shapes disagree, a weight lies outside [0, 1], or a label has no name.
    """
    w, y = np.asarray(weights, dtype=float), np.asarray(labels)
    if w.ndim != 2 or y.shape != (len(w),) or not len(w):
        raise ValueError(
            f"weights of shape {w.shape} and labels of shape {y.shape} do not match; "
            "expected (N, C) and (N,) with N >= 1"
        )
    if not np.isfinite(w).all() or w.min() < 0.0 or w.max() > 1.0:
        raise ValueError("channel weights must lie in [0, 1] (gates after the sigmoid)")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(class_names):
        raise ValueError(f"labels must be integers in [0, {len(class_names)}) to index class_names")
    fig = Figure(figsize=(max(6.0, 0.06 * w.shape[1] + 4.0), 3.6), layout="constrained")
    ax = fig.add_subplot()
    channels = np.arange(w.shape[1])
    palette = colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    for c, name in enumerate(class_names):
        rows = w[y == c]
        if len(rows):
            ax.plot(channels, rows.mean(axis=0), lw=1.0, color=palette(c % palette.N), label=name)
    ax.plot(channels, w.mean(axis=0), lw=1.2, ls="--", color="black", label="all")
    ax.set_xlim(-0.5, w.shape[1] - 0.5)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("channel index")
    ax.set_ylabel("mean channel weight")
    ax.legend(fontsize=7, ncols=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def sampling_outline(theta, height: int, width: int) -> np.ndarray:
    """Where the output's corners sample the input: (4, 2) points ``(x, y)`` in input pixels.

    The output's corners are (-1, -1), (1, -1), (1, 1), (-1, 1) in normalised coordinates
    (x right, y down); ``theta @ (x, y, 1)`` gives the source point [Jaderberg15] Eq. 1, and
    ``affine_grid``'s ``align_corners=False`` convention maps a normalised -1..1 onto the pixel
    edges: ``px = ((x + 1) * W - 1) / 2`` (pixel centres at integers, edges at -0.5 and W - 0.5).
    """
    t = np.asarray(theta, dtype=float)
    if t.shape != (2, 3):
        raise ValueError(f"theta of shape {t.shape} is not a (2, 3) affine matrix")
    corners = np.array([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    source = corners @ t.T  # (4, 2) normalised (x, y)
    return np.stack([((source[:, 0] + 1) * width - 1) / 2, ((source[:, 1] + 1) * height - 1) / 2], axis=1)


def plot_spatial_transformer(inputs, outputs, thetas=None, *, titles: Sequence[str] | None = None) -> Figure:
    """Each input above its rectified output, as in [Jaderberg15] Fig. 1 and Fig. 3.

    Args:
        inputs: (N, H, W) input pictures (uint8 or floats, as in :func:`plot_image_attention`).
        outputs: (N, H', W') the transformer's outputs.
        thetas: optional (N, 2, 3) affine matrices mapping output to input normalised
            coordinates (``affine_grid``, ``align_corners=False``); the sampled region's outline
            is drawn on each input.
        titles: optional N column titles (e.g. the predicted class).

    Returns:
        The figure: 2 rows of N axes, inputs on top (``fig.axes[:N]``), outputs below.

    Raises:
        ValueError: if the shapes do not match.
    """
    x, out = np.asarray(inputs), np.asarray(outputs)
    if x.ndim != 3 or out.ndim != 3 or len(x) != len(out) or not len(x):
        raise ValueError(
            f"inputs of shape {x.shape} and outputs of shape {out.shape} are not (N, H, W) and "
            "(N, H', W') with the same N >= 1"
        )
    t = None if thetas is None else np.asarray(thetas, dtype=float)
    if t is not None and t.shape != (len(x), 2, 3):
        raise ValueError(f"thetas of shape {t.shape} do not match {len(x)} inputs; expected (N, 2, 3)")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"{len(titles)} titles for {len(x)} inputs")
    n = len(x)
    fig = Figure(figsize=(1.6 * n + 0.6, 3.6), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(_as_picture(x[i]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        bottom.imshow(_as_picture(out[i]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        if t is not None:
            outline = sampling_outline(t[i], *x.shape[1:])
            closed = np.vstack([outline, outline[:1]])
            top.plot(closed[:, 0], closed[:, 1], color="tab:red", lw=1.2)
            top.set_xlim(-0.5, x.shape[2] - 0.5)
            top.set_ylim(x.shape[1] - 0.5, -0.5)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
        if titles is not None:
            top.set_title(titles[i], fontsize=8)
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("output")
    return fig


def plot_confusion(
    confusion, class_names: Sequence[str], *, normalise: bool = True, title: str | None = None
) -> Figure:
    """A confusion matrix: true class down the rows, predicted class across.

    Args:
        confusion: (C, C) non-negative counts; entry (i, j) counts examples of class i
            predicted as class j.
        class_names: the C class names.
        normalise: colour and label each cell by its share of its row (recall for the
            diagonal), as a percentage above the count; otherwise by the count alone.
        title: optional title.

    Returns:
        The figure (the matrix's axes and its colour bar).

    Raises:
        ValueError: if `confusion` is not square, not non-negative counts, or does not match
            `class_names`.
    """
    m = np.asarray(confusion)
    if m.ndim != 2 or m.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion of shape {m.shape} does not match {len(class_names)} class names; expected (C, C)")
    if not np.isfinite(m).all() or (m < 0).any() or (m != np.round(m)).any():
        raise ValueError("confusion must hold non-negative whole counts")
    m = m.astype(np.int64)
    totals = m.sum(axis=1, keepdims=True)
    share = np.divide(m, totals, out=np.zeros(m.shape), where=totals > 0)  # a class with no examples: 0
    shown = share if normalise else m
    c = len(class_names)
    fig = Figure(figsize=(0.6 * c + 2.6, 0.6 * c + 1.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(
        shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalise else max(int(m.max()), 1), interpolation="nearest"
    )
    for i in range(c):
        for j in range(c):
            text = f"{100 * share[i, j]:.0f}%\n{m[i, j]}" if normalise else f"{m[i, j]}"
            dark = shown[i, j] > 0.55 * (1.0 if normalise else max(int(m.max()), 1))
            ax.text(
                j, i, text, ha="center", va="center", fontsize=6 if c > 8 else 8, color="white" if dark else "black"
            )
    ax.set_xticks(range(c), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(c), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the row" if normalise else "count")
    if title:
        ax.set_title(title, fontsize=9)
    return fig
