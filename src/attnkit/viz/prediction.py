"""One picture for any task's prediction: the attention it carries, drawn by its kind.

A prediction with ``weights`` over ``src_tokens`` for each of its ``out_tokens`` (text-to-text)
becomes an alignment heatmap; one with ``word_weights`` and ``sentence_weights`` over its
``sentences`` (document classification) becomes the shaded document of [Yang16] Fig. 5; one
with an ``image`` and attention ``maps`` over it (image classification) becomes overlays; one
with an ``image``, its ``words`` and a ``word_maps`` per word (captioning) becomes one overlay
per word. New kinds of attention (image overlays, graphs) add a drawer to :data:`DRAWERS`; the
choice is by the fields a prediction has, never by a task's name.
"""

from __future__ import annotations

from typing import Any, Callable

from matplotlib.figure import Figure

from ..heads import select_heads
from .alignment import plot_alignment
from .caption import plot_caption_attention
from .document import plot_document_attention
from .graph import plot_neighbourhood
from .image import plot_image_attention
from .speech import plot_frame_attention, plot_spectrogram_alignment

__all__ = ["plot_prediction", "DRAWERS"]


def _alignment(pred: Any, title: str | None, heads) -> Figure:
    if pred.weights is None:
        raise ValueError("this model has no attention, so there is no alignment to draw")
    weights = pred.weights
    if weights.dim() == 3:  # (Nh, To, Tk): several heads; the picture shows the chosen one, as titled
        weights = select_heads(weights, heads)
        which = f"mean of {pred.weights.shape[0]} heads" if heads == "mean" else f"head {heads}"
        title = f"{title} ({which})" if title else None
    return plot_alignment(weights.numpy(), pred.src_tokens, pred.out_tokens, title=title)


def _document(pred: Any, title: str | None, heads) -> Figure:
    return plot_document_attention(pred.sentences, pred.word_weights.numpy(), pred.sentence_weights.numpy(),
                                   title=title)


def _image(pred: Any, title: str | None, heads) -> Figure:
    """The input, each attention map over it, the spatial transformer's output, and the last
    stage's channel weights, side by side."""
    panels = len(pred.maps) + 1 + (pred.rectified is not None) + bool(pred.channel_weights)
    if panels == 1:
        raise ValueError("this model has no attention over the image to draw")
    fig = Figure(figsize=(2.8 * panels, 3.3), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    axes[0].imshow(pred.image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("input", fontsize=9)
    i = 1
    for name, heat in pred.maps.items():
        plot_image_attention(pred.image, heat, title=name, ax=axes[i])
        i += 1
    if pred.rectified is not None:
        axes[i].imshow(pred.rectified, cmap="gray", vmin=0, vmax=1)
        axes[i].set_title("spatial transformer output", fontsize=9)
        i += 1
    for ax in axes[:i]:
        ax.set_xticks([])
        ax.set_yticks([])
    if pred.channel_weights:
        w = pred.channel_weights[-1]
        axes[i].bar(range(len(w)), w, width=1.0, color="tab:blue")
        axes[i].set(xlabel="channel", ylabel="weight", ylim=(0, 1), title="channel weights, last stage")
        axes[i].title.set_fontsize(9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _neighbourhood(pred: Any, title: str | None, heads) -> Figure:
    """The last layer's weights over the node's incoming edges (mean of the heads or one head)."""
    if not pred.edge_weights:
        raise ValueError("this model has no attention over the graph to draw")
    per_head = pred.edge_weights[-1].T.unsqueeze(1)  # (Nh, 1, K): heads first, as select_heads reads them
    n = per_head.shape[0]
    which = ("the one head" if n == 1 else f"mean of {n} heads") if heads == "mean" else f"head {heads}"
    weights = select_heads(per_head, heads)[0]  # (K,)
    title = f"{title} (last layer, {which})" if title else f"last layer, {which}"
    return plot_neighbourhood(pred.node, pred.neighbours, weights.numpy(), labels=pred.neighbour_classes,
                              title=title)


def _caption(pred: Any, title: str | None, heads) -> Figure:
    if pred.word_maps is None:
        raise ValueError("this model has no attention, so there is no picture per word to draw")
    return plot_caption_attention(pred.image, pred.words, pred.word_maps, title=title)


def _frames(pred: Any, title: str | None, heads) -> Figure:
    """A spoken word: spectrogram, pooling weights and the last layer's self-attention."""
    return plot_frame_attention(pred.frames, pred.frame_seconds, pred.pool_weights, pred.position_seconds,
                                pred.self_weights, title=title)


def _spectrogram_alignment(pred: Any, title: str | None, heads) -> Figure:
    """Spoken input, written output: each output token's weights over time, under the spectrogram."""
    if pred.weights is None or pred.frames is None:
        raise ValueError("this prediction carries no alignment over frames to draw")
    weights = pred.weights
    if weights.dim() == 3:  # (Nh, To, Tk)
        weights = select_heads(weights, heads)
        which = f"mean of {pred.weights.shape[0]} heads" if heads == "mean" else f"head {heads}"
        title = f"{title} ({which})" if title else None
    return plot_spectrogram_alignment(pred.frames, pred.frame_seconds, weights.numpy(), pred.position_seconds,
                                      pred.out_tokens, title=title)


# (fields a prediction must have, drawer); the first match draws
DRAWERS: list[tuple[tuple[str, ...], Callable[[Any, str | None, Any], Figure]]] = [
    (("weights", "src_tokens", "out_tokens"), _alignment),
    (("word_weights", "sentence_weights", "sentences"), _document),
    (("image", "maps", "rectified", "channel_weights"), _image),
    (("node", "neighbours", "edge_weights"), _neighbourhood),
    (("image", "words", "word_maps"), _caption),
    (("frames", "frame_seconds", "pool_weights"), _frames),
    (("frames", "frame_seconds", "weights", "out_tokens"), _spectrogram_alignment),
]


def plot_prediction(prediction: Any, *, title: str | None = None, heads="mean") -> Figure:
    """The attention picture of one prediction.

    Args:
        prediction: a prediction from a task's ``predict`` or ``evaluate``.
        title: the figure's title.
        heads: for multi-head weights (Nh, To, Tk): ``"mean"`` or a head index
            (:func:`attnkit.heads.select_heads`); named in the title.

    Raises:
        ValueError: if the prediction carries no attention that can be drawn.
    """
    for needed, draw in DRAWERS:
        if all(hasattr(prediction, name) for name in needed):
            return draw(prediction, title, heads)
    raise ValueError(f"no picture for a {type(prediction).__name__}: it carries no attention weights")
