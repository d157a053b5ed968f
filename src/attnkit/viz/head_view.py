"""Self-attention of one token sequence (kind ``self-attention``): the head view and the layers x
heads grid, their JSON, and the explorer's drawing code.

The head view [Vig19] draws the tokens twice, in two columns, and a line from each token on the
left (a query) to each token on the right (a key) it attends to, its opacity the weight; one head
in one colour, or every head of a layer at once, a colour per head. The grid
(:func:`attnkit.viz.grid.plot_attention_grid`) shows every layer's and head's (T, T) map.

An explanation beyond raw attention (rollout, flow, norm-based, ALTI, gradient-weighted: the
prediction's ``explanations``, name -> (T, T)) is drawn the same way: one map, one colour.

Differences from bertviz's head view [Vig19]:
    Lines of weight under :data:`MIN_WEIGHT` are not drawn (at that opacity they are invisible,
    and a 512-token head has 262,144 of them); beyond :data:`MAX_LINES` only the heaviest are kept.
    The page draws on canvas, not SVG, so that 512 and 1,024 tokens stay responsive.

References:
    [Vig19] J. Vig. A Multiscale Visualization of Attention in the Transformer Model. ACL 2019
    (System Demonstrations). arXiv:1906.05714.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure, SubFigure

from ..heads import HeadChoice
from .alignment import _font_family, display_token, figure_of
from .grid import plot_attention_grid

__all__ = [
    "HEAD_COLOURS",
    "MIN_WEIGHT",
    "MAX_LINES",
    "THUMB",
    "SCRIPT",
    "head_lines",
    "plot_head_view",
    "plot_self_attention",
    "self_attention_json",
    "self_attention_page_json",
    "thumbnails",
]

# one colour per head (matplotlib's tab10, then two more), cycled beyond 12 heads; the page uses the same
HEAD_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
)
EXPLANATION_COLOUR = "#1b2430"
MIN_WEIGHT = 0.01  # lines of a smaller weight are not drawn
MAX_LINES = 20_000  # at most this many lines in one head view (the heaviest)
THUMB = 64  # the explorer's grid thumbnails: at most THUMB x THUMB cells per map
SCRIPT = Path(__file__).resolve().parents[1] / "explore" / "static" / "self-attention.js"


def _array(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor: viz takes arrays, and tensors for convenience
        values = values.detach().float().cpu().numpy()
    return np.nan_to_num(np.asarray(values, dtype=np.float64))


def head_lines(
    weights: Any, *, min_weight: float = MIN_WEIGHT, max_lines: int = MAX_LINES
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lines of a head view: every (head, query, key) whose weight is at least `min_weight`,
    at most `max_lines` of them (the heaviest), in (head, query, key) order.

    Args:
        weights: (Nh, T, T) weights of Nh heads (rows: queries), or one (T, T) map.
        min_weight: the smallest weight drawn, a probability in [0, 1].
        max_lines: the most lines kept.

    Returns:
        ``(heads, queries, keys, weights)``, four (n,) arrays.
    """
    w = _array(weights)
    if w.ndim == 2:
        w = w[None]
    heads, rows, cols = np.nonzero(w >= min_weight)
    values = w[heads, rows, cols]
    if len(values) > max_lines:
        keep = np.sort(np.argsort(-values, kind="stable")[:max_lines])
        heads, rows, cols, values = heads[keep], rows[keep], cols[keep], values[keep]
    return heads, rows, cols, values


def plot_head_view(
    weights: Any,
    tokens: Sequence[str],
    *,
    heads: Sequence[int] | None = None,
    colours: Sequence[str] = HEAD_COLOURS,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The head view of one layer: the tokens in two columns, a line from each query (left) to
    each key (right), opacity = weight [Vig19].

    Args:
        weights: (Nh, T, T) weights of one layer's heads, rows (queries) summing to 1, or one
            (T, T) map (an explanation).
        tokens: the T tokens.
        heads: the heads drawn (None: all of them), each in its colour ``colours[h % len]``; one
            (T, T) map is head 0 in :data:`EXPLANATION_COLOUR`.
        colours: colours per head.
        title: the axes' title.
        ax: axes to draw on (None: a new figure).

    Returns:
        The figure. Its axes hold one :class:`~matplotlib.collections.LineCollection` (segments
        ((0, i), (1, j)) for query i and key j, token i at y = i, the y axis pointing down).

    Raises:
        ValueError: if `weights` is not (Nh, T, T) or (T, T) with T = len(tokens), or a head is
            out of range.
    """
    w = _array(weights)
    single = w.ndim == 2
    if single:
        w = w[None]
    n = len(tokens)
    if w.ndim != 3 or w.shape[1:] != (n, n):
        raise ValueError(f"weights of shape {_array(weights).shape} do not match (Nh, T, T) or (T, T) with T={n}")
    chosen = list(range(w.shape[0])) if heads is None else [int(h) for h in heads]
    bad = [h for h in chosen if not 0 <= h < w.shape[0]]
    if bad:
        raise ValueError(f"head {bad[0]} is out of range: these weights have {w.shape[0]} heads")
    if ax is None:
        height = min(30.0, max(3.0, 0.12 * n + 1.0))
        fig = Figure(figsize=(4.2, height), layout="constrained")
        ax = fig.subplots()
    h, q, k, v = head_lines(w[chosen])
    rgb = np.array([to_rgb(EXPLANATION_COLOUR if single else colours[chosen[i] % len(colours)]) for i in h])
    rgba = np.concatenate([rgb.reshape(-1, 3), np.clip(v, 0, 1).reshape(-1, 1)], axis=1)
    segments = np.stack([np.stack([np.zeros_like(v), q], 1), np.stack([np.ones_like(v), k], 1)], 1)
    ax.add_collection(LineCollection(list(segments.reshape(-1, 2, 2)), colors=rgba, linewidths=1.2 if n <= 64 else 0.6))
    family = _font_family()
    size = max(2.5, min(9.0, 0.8 * 72 * ax.bbox.height / ax.figure.dpi / max(n, 1)))
    for i, token in enumerate(tokens):
        label = display_token(token)
        for x, ha in ((-0.04, "right"), (1.04, "left")):  # inside the axes' x limits: no layout pass needs them
            ax.text(x, i, label, ha=ha, va="center", fontsize=size, fontfamily=family).set_in_layout(False)
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylim(n - 0.5, -0.5)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9, fontfamily=family)
    return figure_of(ax)


def _heads_of(pred: Any, heads: HeadChoice) -> tuple[list[int] | None, str]:
    n = int(_array(pred.weights).shape[1])
    if heads == "mean":
        return None, f"all {n} heads"
    if isinstance(heads, bool) or not isinstance(heads, int) or not 0 <= heads < n:
        raise ValueError(f"head {heads!r} is out of range: these weights have {n} heads; pass 0..{n - 1} or 'mean'")
    return [heads], f"head {heads} of 0..{n - 1}"  # the index of --attention-heads, as the grid


def plot_self_attention(pred: Any, title: str | None = None, heads: HeadChoice = "mean") -> Figure:
    """The picture of a :class:`attnkit.tasks.self_attention.SelfAttentionPrediction`.

    Without explanations: the head view of the last layer (``heads="mean"``: every head, a colour
    each; a head index: that head) beside the layers x heads grid. With explanations (the task's
    input option ``explain``): for each explanation its head view beside its (T, T) heatmap.

    Raises:
        ValueError: for weights that are not (L, Nh, T, T) with T = len(tokens), or a head out
            of range.
    """
    w = _array(pred.weights)
    n = len(pred.tokens)
    if w.ndim != 4 or w.shape[2:] != (n, n):
        raise ValueError(f"self-attention weights of shape {w.shape} do not match (L, Nh, T, T) with T={n}")
    family = _font_family()
    tall = min(30.0, max(3.0, 0.12 * n + 1.0))
    if pred.explanations:
        names = list(pred.explanations)
        fig = Figure(figsize=(4.2 + min(12.0, max(3.0, 0.1 * n + 1.5)), tall * len(names)), layout="constrained")
        rows = fig.subfigures(len(names), 1, squeeze=False)[:, 0]
        for sub, name in zip(rows, names):
            line_ax, map_ax = sub.subplots(1, 2, width_ratios=[4.2, min(12.0, max(3.0, 0.1 * n + 1.5))])
            plot_head_view(pred.explanations[name], pred.tokens, title=f"{name}", ax=line_ax)
            _heatmap(
                map_ax, _array(pred.explanations[name]), pred.tokens, f"{name} (rows explained, columns contribute)"
            )
        if title:
            fig.suptitle(title, fontsize=10, fontfamily=family)
        return fig
    chosen, which = _heads_of(pred, heads)
    n_layers, n_heads = w.shape[:2]
    cell = min(0.16, 1.6 / max(n, 1))
    panel_w, panel_h = max(1.6, cell * n + 0.7), max(1.4, cell * n + 0.7)
    grid_w, grid_h = panel_w * n_heads + 0.8, panel_h * n_layers + 0.6
    fig = Figure(figsize=(4.2 + grid_w, max(tall, grid_h)), layout="constrained")
    subs = fig.subfigures(1, 2, width_ratios=[4.2, grid_w], squeeze=False)
    left, right = subs[0, 0], subs[0, 1]
    plot_head_view(w[-1], pred.tokens, heads=chosen, title=f"layer {n_layers - 1}, {which}", ax=left.subplots())
    plot_attention_grid(w, pred.tokens, pred.tokens, cell_inches=cell, into=_top(right, grid_h, max(tall, grid_h)))
    if title:
        fig.suptitle(title, fontsize=10, fontfamily=family)
    return fig


def _top(sub: SubFigure, height: float, total: float) -> SubFigure:
    """The top `height` inches of a subfigure `total` inches tall (the grid keeps its square
    panels beside a tall head view)."""
    if height >= total - 1e-9:
        return sub
    return sub.subfigures(2, 1, height_ratios=[height, total - height], squeeze=False)[0, 0]


def _heatmap(ax: Axes, m: np.ndarray, tokens: Sequence[str], title: str) -> None:
    image = ax.imshow(m, cmap="gray_r", vmin=0.0, vmax=max(1e-12, float(m.max())), interpolation="nearest")
    if len(tokens) <= 60:
        labels = [display_token(t) for t in tokens]
        ax.set_xticks(range(len(tokens)), labels, rotation=90, fontsize=6, fontfamily=_font_family())
        ax.set_yticks(range(len(tokens)), labels, fontsize=6, fontfamily=_font_family())
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    ax.figure.colorbar(image, ax=ax, shrink=0.6)


# ---- JSON ------------------------------------------------------------------------------------------
def self_attention_json(pred: Any, budget: Any) -> dict[str, Any]:
    """Everything a self-attention prediction carries, for ``attnkit predict --json``.

    Returns:
        ``{"tokens": T tokens, "causal", "prompt_length", "weights": (L, Nh, T, T) every layer
        and head (rows: queries), "explanations": {name: (T, T)}}`` (matrices as
        :meth:`attnkit.viz.views.Budget.matrix`).
    """
    return {
        "tokens": list(pred.tokens),
        "causal": bool(pred.causal),
        "prompt_length": int(pred.prompt_length),
        "weights": budget.matrix(pred.weights),
        "explanations": {name: budget.matrix(m) for name, m in pred.explanations.items()},
    }


def thumbnails(weights: Any, size: int = THUMB) -> np.ndarray:
    """Every map at most `size` x `size`: query positions split into `size` near-equal blocks
    (and keys likewise); a cell is the mean over its block's queries of their summed weight on
    the key block, so each row still sums to 1 (a coarse attention map, colours on [0, 1]).

    Args:
        weights: (..., T, T).
        size: cells per side (T when T <= size).

    Returns:
        (..., t, t) with t = min(T, size).
    """
    w = _array(weights)
    n = w.shape[-1]
    t = min(n, size)
    starts = (np.arange(t) * n) // t
    counts = np.diff(np.append(starts, n))
    summed = np.add.reduceat(np.add.reduceat(w, starts, axis=-1), starts, axis=-2)
    return summed / counts[:, None]


def self_attention_page_json(pred: Any, budget: Any, focus: Mapping[str, Any]) -> dict[str, Any]:
    """What the explorer sends of a self-attention prediction: as much as its budget allows.

    The explanations first, then the layer the page asks for (``focus["layer"]``, 0-based, a
    negative one counted from the last; default the last) and the layers nearest to it at full
    resolution while the budget lasts (where even the focused layer does not fit whole, as many
    of its heads as fit, from ``focus["head"]``, default 0, on); when not every layer fits, every
    map as a :func:`thumbnails` map for the grid
    (the page asks again, focused on another layer or head, to see it whole).

    Returns:
        ``{"tokens", "causal", "prompt_length", "n_layers", "n_heads", "layer": the focused
        layer, "layers": {str(l): (Nh, T, T)} the layers sent whole, "heads": {"l:h": (T, T)} the
        heads sent of a focused layer that is not whole, "thumbs": (L, Nh, t, t) or
        null, "explanations": {name: (T, T)}, "min_weight": the lightest line the head view draws}``.

    Raises:
        ValueError: for a focused layer or head out of range.
    """
    w = np.asarray(pred.weights, dtype=np.float32)
    n_layers, n_heads, n = w.shape[0], w.shape[1], w.shape[-1]
    layer = focus.get("layer", n_layers - 1)
    if isinstance(layer, bool) or not isinstance(layer, int) or not -n_layers <= layer < n_layers:
        raise ValueError(
            f"layer {layer!r} is out of range: this prediction has layers 0..{n_layers - 1} (-1 is the last)"
        )
    layer %= n_layers  # negative: counted from the last
    out: dict[str, Any] = {
        "tokens": list(pred.tokens),
        "causal": bool(pred.causal),
        "prompt_length": int(pred.prompt_length),
        "n_layers": int(n_layers),
        "n_heads": int(n_heads),
        "layer": layer,
        "explanations": {name: budget.matrix(m) for name, m in pred.explanations.items()},
        "min_weight": MIN_WEIGHT,
    }
    per_layer = n_heads * n * n
    whole = budget.left is None or budget.left >= per_layer * n_layers
    thumbs = None if whole else thumbnails(w)
    if thumbs is not None and budget.left is not None:
        budget.left -= int(thumbs.size)  # reserved first: the grid needs every map
    order = sorted(range(n_layers), key=lambda i: (abs(i - layer), i))
    layers: dict[str, Any] = {}
    heads: dict[str, Any] = {}
    for i in order:
        if budget.left is None or budget.left >= per_layer:
            layers[str(i)] = budget.matrix(w[i])
            continue
        if i == layer:  # the focused layer does not fit whole: as many of its heads as fit, from the focused one
            first = focus.get("head", 0)
            if isinstance(first, bool) or not isinstance(first, int) or not 0 <= first < n_heads:
                raise ValueError(f"head {first!r} is out of range: this prediction has heads 0..{n_heads - 1}")
            for h in sorted(range(n_heads), key=lambda h: (h - first) % n_heads):
                if h != first and budget.left < n * n:
                    break
                heads[f"{i}:{h}"] = budget.matrix(w[i, h])  # the focused head always: over the budget, refused
        break
    if thumbs is not None and budget.left is not None:
        budget.left += int(thumbs.size)
    out["heads"] = heads
    out["layers"] = layers
    out["thumbs"] = None if thumbs is None else budget.matrix(thumbs)
    return out
