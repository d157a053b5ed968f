"""The views registry: one :class:`View` per prediction kind (:mod:`attnkit.predictions`).

A view is everything attnkit shows of one kind of prediction: its picture (``plot``, used by
:func:`attnkit.viz.plot_prediction`, ``attnkit predict --attention-plot`` and the studies), its
JSON (``to_json``: every attention array, every layer and head where there are several, with the
tokens, positions or labels they refer to; ``attnkit predict --json`` and the explorer's answers)
and the explorer's drawing code for it (``script``; None for the kinds the page draws itself).
:func:`view_of` picks the view by the prediction's ``kind``, never by its field names.

A new kind is one registration, from anywhere::

    VIEWS.register("my-kind", View("my-kind", plot=my_plot, to_json=my_json, script=MY_JS), "what it shows")

The script registers its drawer in the page: ``attnkitViews["my-kind"] = (box, view, ctx) => {...}``,
where ``view`` is ``to_json``'s answer and ``ctx`` offers ``el`` (make an element),
``drawMatrix(canvas, {shape, data}, rowLabels, colLabels)``, ``legend(min, max, label)`` (a colour
scale of drawMatrix's colours) and the run's ``key``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from ..heads import HeadChoice, select_heads
from ..predictions import (
    CAPTION,
    DOCUMENT,
    GRAPH_NEIGHBOURHOOD,
    IMAGE_OVERLAY,
    LABEL,
    SELF_ATTENTION,
    SPECTROGRAM_ALIGNMENT,
    SPOKEN_WORD,
    TAGGING,
    TEXT_ALIGNMENT,
)
from ..registry import Registry
from .alignment import plot_alignment
from .caption import plot_caption_attention
from .document import plot_document_attention
from .graph import plot_neighbourhood
from .head_view import SCRIPT as SELF_ATTENTION_SCRIPT
from .head_view import plot_self_attention, self_attention_json, self_attention_page_json
from .image import plot_image_attention, sampling_outline
from .speech import plot_frame_attention, plot_spectrogram_alignment
from .tagging import SCRIPT as TAGGING_SCRIPT
from .tagging import plot_tagging, tagging_json

__all__ = ["View", "VIEWS", "Budget", "binary_matrix", "view_of", "prediction_json", "DECIMALS"]

DECIMALS = 5  # weights in JSON are rounded to this many decimals


def _array(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    return np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


class Budget:
    """How many numbers (matrix cells) a JSON answer may still carry, and how they travel.

    Args:
        cells: the limit; None: no limit (``attnkit predict --json``).
        binary: False: a matrix is ``{"shape", "data"}`` with a JSON number list (rounded to
            :data:`DECIMALS`; ``attnkit predict --json``); True: ``{"shape", "dtype": "float32",
            "base64"}``, the little-endian float32 values, row-major, base64-encoded (the
            explorer's answers: a few bytes a number and a typed array in the page).
    """

    def __init__(self, cells: int | None = None, *, binary: bool = False) -> None:
        self.left = cells
        self.binary = binary

    @property
    def exceeded(self) -> bool:
        return self.left is not None and self.left < 0

    def matrix(self, values: Any) -> dict[str, Any] | None:
        """An array or tensor as a JSON matrix (NaN and infinities as 0), counted against the
        budget; None once the budget has run out (:attr:`exceeded` then says so)."""
        array = _array(values)
        if self.left is not None:
            self.left -= int(array.size)
            if self.left < 0:
                return None
        return (
            binary_matrix(array)
            if self.binary
            else {"shape": list(array.shape), "data": np.round(array, DECIMALS).ravel().tolist()}
        )


def binary_matrix(values: Any) -> dict[str, Any]:
    """An array or tensor as ``{"shape", "dtype": "float32", "base64"}``: the shape as a list, the
    values as little-endian float32, row-major, base64-encoded; NaN and infinities become 0."""
    array = np.ascontiguousarray(_array(values), dtype="<f4")
    return {"shape": list(array.shape), "dtype": "float32", "base64": base64.b64encode(array.tobytes()).decode("ascii")}


@dataclass(frozen=True)
class View:
    """How one kind of prediction is shown.

    Attributes:
        kind: the prediction kind it shows.
        plot: ``plot(prediction, title, heads) -> Figure``; `heads` is ``"mean"`` or a head index
            for multi-head attention. Raises ValueError when the prediction has nothing to draw.
        to_json: ``to_json(prediction, budget) -> dict`` of plain JSON values: every attention
            array (as :meth:`Budget.matrix`) and the tokens / positions / labels it refers to.
        script: the explorer's drawing code for the kind: JavaScript source, or the path of a
            ``.js`` file; None for the kinds the page draws itself.
        carries: the prediction's fields that `to_json` carries (the explorer leaves them out of
            the other fields it shows, so no array travels twice).
        n_heads: the number of heads the picture chooses among; 0 for attention without a head
            dimension (nothing to choose: any head index but 0 draws nothing).
        page_json: ``page_json(prediction, budget, focus) -> dict``: the explorer's JSON of a
            prediction too large to send whole, what fits in `budget` around the page's
            selection `focus` (the predict request's ``"focus"`` object, e.g. ``{"layer": 3}``);
            None: the explorer sends `to_json`.
    """

    kind: str
    plot: Callable[[Any, str | None, HeadChoice], Figure]
    to_json: Callable[[Any, Budget], dict[str, Any]]
    script: str | Path | None = None
    carries: frozenset[str] = frozenset()
    n_heads: Callable[[Any], int] = lambda prediction: 0
    page_json: Callable[[Any, Budget, Mapping[str, Any]], dict[str, Any]] | None = None

    def script_source(self) -> str | None:
        """The script's text (read from its file when it is a path), or None."""
        if isinstance(self.script, Path):
            return self.script.read_text(encoding="utf-8")
        return self.script


VIEWS: Registry[View] = Registry(
    "prediction view",
    plugins="attnkit.views",  # an installed package's entry point NAME = module:VIEW_OBJECT (attnkit.registry)
    check=lambda name, obj: None if isinstance(obj, View) and obj.kind == name else f"is not a View of kind {name!r}",
)


def view_of(prediction: Any) -> View:
    """The view of a prediction's kind.

    Raises:
        ValueError: for a prediction without a ``kind`` class attribute, or a kind no view is
            registered for (the message lists the registered kinds).
    """
    try:
        kind = prediction.kind
    except AttributeError:
        raise ValueError(
            f"a {type(prediction).__name__} declares no kind, so there is no view of it; give its "
            "class an attribute kind (attnkit.predictions) and register a View for it"
        ) from None
    return VIEWS.get(kind)


def prediction_json(prediction: Any, budget: Budget | None = None) -> dict[str, Any]:
    """``{"kind", "output", ...}`` with the view's JSON of the prediction."""
    view = view_of(prediction)
    return {"kind": view.kind, "output": prediction.output, **view.to_json(prediction, budget or Budget())}


# ---- text alignments ----------------------------------------------------------------------------
def _heads_of(weights: Any) -> int:
    return int(weights.shape[0]) if weights is not None and weights.ndim == 3 else 0


def _chosen(weights: Any, title: str | None, heads: HeadChoice) -> tuple[Any, str | None]:
    """One map of (Nh, To, Tk) weights (the chosen head or the mean), named in the title."""
    if weights.ndim == 3:
        which = f"mean of {weights.shape[0]} heads" if heads == "mean" else f"head {heads}"
        return select_heads(weights, heads), (f"{title} ({which})" if title else None)
    return weights, title


def _alignment(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
    if pred.weights is None:
        raise ValueError("this model has no attention, so there is no alignment to draw")
    weights, title = _chosen(pred.weights, title, heads)
    return plot_alignment(_array(weights), pred.src_tokens, pred.out_tokens, title=title)


def _alignment_json(pred: Any, budget: Budget) -> dict[str, Any]:
    """``{"src_tokens", "out_tokens", "weights": (To, Tk) or per head (Nh, To, Tk), or null}``."""
    return {
        "src_tokens": list(pred.src_tokens),
        "out_tokens": list(pred.out_tokens),
        "weights": None if pred.weights is None else budget.matrix(pred.weights),
    }


# ---- documents ------------------------------------------------------------------------------------
def _document(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
    return plot_document_attention(
        pred.sentences, _array(pred.word_weights), _array(pred.sentence_weights), title=title
    )


def _document_json(pred: Any, budget: Budget) -> dict[str, Any]:
    """``{"sentences": S lists of words, "word_weights": (S, W), "sentence_weights": (S,)}``."""
    return {
        "sentences": [list(s) for s in pred.sentences],
        "word_weights": budget.matrix(pred.word_weights),
        "sentence_weights": budget.matrix(pred.sentence_weights),
    }


# ---- images ----------------------------------------------------------------------------------------
def _image(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
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


def _overlay_json(pred: Any, budget: Budget) -> dict[str, Any]:
    """What the page draws over an image (an :class:`attnkit.tasks.images.ImagePrediction`).

    Returns:
        ``{"image": (H, W) in [0, 1], "maps": [{"name", "heat": (h, w) non-negative, "max",
        "query": true for the map that a query pixel picks}], "query": {"map", "grid": [h, w],
        "cell": [row, col] or null} or null, "stn": {"rectified": (H', W') in [0, 1], "theta":
        (2, 3), "outline": (4, 2) (x, y) input pixels of the output's corners, as
        :func:`attnkit.viz.image.sampling_outline`} or null, "channel_weights": per stage (C_s,)}``.
    """
    image = np.asarray(pred.image, dtype=np.float64)
    maps = [
        {
            "name": name,
            "heat": budget.matrix(heat),
            "max": float(np.max(heat)) if np.size(heat) else 0.0,
            "query": name == pred.query_map,
        }
        for name, heat in pred.maps.items()
    ]
    query = None
    if pred.query_map is not None:
        query = {
            "map": pred.query_map,
            "grid": list(pred.query_grid),
            "cell": None if pred.query is None else [int(v) for v in pred.query],
        }
    stn = None
    if pred.rectified is not None and pred.theta is not None:
        outline = sampling_outline(pred.theta, *image.shape[:2])
        stn = {
            "rectified": budget.matrix(pred.rectified),
            "theta": np.asarray(pred.theta, dtype=float).tolist(),
            "outline": np.round(outline, DECIMALS).tolist(),
        }
    return {
        "image": budget.matrix(image),
        "maps": maps,
        "query": query,
        "stn": stn,
        "channel_weights": [budget.matrix(w) for w in pred.channel_weights],
    }


# ---- captions ------------------------------------------------------------------------------------
def _caption(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
    if pred.word_maps is None:
        raise ValueError("this model has no attention, so there is no picture per word to draw")
    return plot_caption_attention(pred.image, pred.words, pred.word_maps, title=title)


def _caption_json(pred: Any, budget: Budget) -> dict[str, Any]:
    """``{"image": (H, W), "words": To tokens, "word_maps": (To, h, w) or null}``."""
    return {
        "image": budget.matrix(pred.image),
        "words": list(pred.words),
        "word_maps": None if pred.word_maps is None else budget.matrix(pred.word_maps),
    }


# ---- graphs ----------------------------------------------------------------------------------------
def _last_layer_heads(pred: Any) -> Any:
    return pred.edge_weights[-1].T.unsqueeze(1)  # (Nh, 1, K): heads first, as select_heads reads them


def _neighbourhood(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
    """The last layer's weights over the node's incoming edges (mean of the heads or one head)."""
    if not pred.edge_weights:
        raise ValueError("this model has no attention over the graph to draw")
    per_head = _last_layer_heads(pred)
    n = per_head.shape[0]
    which = ("the one head" if n == 1 else f"mean of {n} heads") if heads == "mean" else f"head {heads}"
    weights = select_heads(per_head, heads)[0]  # (K,)
    title = f"{title} (last layer, {which})" if title else f"last layer, {which}"
    return plot_neighbourhood(pred.node, pred.neighbours, _array(weights), labels=pred.neighbour_classes, title=title)


def _neighbourhood_json(pred: Any, budget: Budget) -> dict[str, Any]:
    """A node's neighbourhood (an :class:`attnkit.tasks.graph_nodes.NodePrediction`).

    Returns:
        ``{"node", "class" (the predicted one), "neighbours": K names (edges j -> node; the node
        itself with self-loops), "classes": their K gold classes, "self": the node's own index
        in "neighbours" or null, "layers": per layer the edges' weights (K, Nh) (empty without
        attention)}``; each head's column sums to 1 over the K edges.
    """
    neighbours = list(pred.neighbours)
    return {
        "node": pred.node,
        "class": pred.output,
        "neighbours": neighbours,
        "classes": list(pred.neighbour_classes),
        "self": neighbours.index(pred.node) if pred.node in neighbours else None,
        "layers": [budget.matrix(w.reshape(len(neighbours), -1)) for w in pred.edge_weights],
    }


# ---- speech ----------------------------------------------------------------------------------------
def _frames(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
    """A spoken word: spectrogram, pooling weights and the last layer's self-attention."""
    return plot_frame_attention(
        pred.frames, pred.frame_seconds, pred.pool_weights, pred.position_seconds, pred.self_weights, title=title
    )


def _spectrogram_alignment(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
    """Spoken input, written output: each output token's weights over time, under the spectrogram."""
    if pred.weights is None or pred.frames is None:
        raise ValueError("this prediction carries no alignment over frames to draw")
    weights, title = _chosen(pred.weights, title, heads)
    return plot_spectrogram_alignment(
        pred.frames, pred.frame_seconds, _array(weights), pred.position_seconds, pred.out_tokens, title=title
    )


def _speech_json(
    frames: Any,
    frame_seconds: float,
    position_seconds: float,
    budget: Budget,
    *,
    pool: Any = None,
    self_weights: Any = None,
    tokens: Any = None,
    weights: Any = None,
) -> dict[str, Any]:
    """What the page draws for a recording, as :func:`attnkit.viz.speech.plot_frame_attention`
    and :func:`~attnkit.viz.speech.plot_spectrogram_alignment`.

    Returns:
        ``{"frames": (T, n_mels) normalised log-mel frames or null, "frame_seconds",
        "position_seconds" (seconds per frame and per encoder position), "seconds": T *
        frame_seconds, "pool": (T',) pooling weights summing to 1 or null, "self": (T', T')
        last-layer self-attention (mean of heads, rows = queries) or null, "tokens": the To output
        tokens or null, "weights": (To, Tk) alignment of each output token over the encoder
        positions (mean of heads) or null, "heads": the same per head (Nh, To, Tk) or null}``.
    """
    per_head = None
    if weights is not None:
        weights = _array(weights)
        if weights.ndim == 3:  # (Nh, To, Tk): the page draws the mean of the heads
            per_head, weights = weights, weights.mean(0)
    frames = None if frames is None else np.asarray(frames, dtype=np.float64)
    return {
        "frames": None if frames is None else budget.matrix(frames),
        "frame_seconds": float(frame_seconds),
        "position_seconds": float(position_seconds),
        "seconds": 0.0 if frames is None else len(frames) * float(frame_seconds),
        "pool": None if pool is None else budget.matrix(pool),
        "self": None if self_weights is None else budget.matrix(self_weights),
        "tokens": None if tokens is None else list(tokens),
        "weights": None if weights is None else budget.matrix(weights),
        "heads": None if per_head is None else budget.matrix(per_head),
    }


def _spoken_word_json(pred: Any, budget: Budget) -> dict[str, Any]:
    return _speech_json(
        pred.frames,
        pred.frame_seconds,
        pred.position_seconds,
        budget,
        pool=pred.pool_weights,
        self_weights=pred.self_weights,
    )


def _spoken_date_json(pred: Any, budget: Budget) -> dict[str, Any]:
    return _speech_json(
        pred.frames, pred.frame_seconds, pred.position_seconds, budget, tokens=pred.out_tokens, weights=pred.weights
    )


# ---- labels --------------------------------------------------------------------------------------
def _label(pred: Any, title: str | None, heads: HeadChoice) -> Figure:
    raise ValueError(f"no picture for a {type(pred).__name__}: it carries no attention weights")


def _label_json(pred: Any, budget: Budget) -> dict[str, Any]:
    return {}


_SPEECH = frozenset(
    {"frames", "frame_seconds", "position_seconds", "pool_weights", "self_weights", "weights", "out_tokens"}
)
for _view, _description in [
    (
        View(
            TEXT_ALIGNMENT,
            _alignment,
            _alignment_json,
            carries=frozenset({"src_tokens", "out_tokens", "weights"}),
            n_heads=lambda p: _heads_of(p.weights),
        ),
        "output tokens over source tokens: an alignment heatmap",
    ),
    (
        View(DOCUMENT, _document, _document_json, carries=frozenset({"sentences", "word_weights", "sentence_weights"})),
        "a document's word and sentence weights, shaded as in [Yang16] Fig. 5",
    ),
    (
        View(
            IMAGE_OVERLAY,
            _image,
            _overlay_json,
            carries=frozenset(
                {"image", "maps", "rectified", "theta", "query_map", "query_grid", "query", "channel_weights"}
            ),
        ),
        "attention maps over an image, a spatial transformer's output, channel weights",
    ),
    (
        View(CAPTION, _caption, _caption_json, carries=frozenset({"image", "words", "word_maps"})),
        "one map over the image per generated word",
    ),
    (
        View(
            GRAPH_NEIGHBOURHOOD,
            _neighbourhood,
            _neighbourhood_json,
            carries=frozenset({"neighbours", "edge_weights", "neighbour_classes"}),
            n_heads=lambda p: int(_last_layer_heads(p).shape[0]) if p.edge_weights else 0,
        ),
        "a node's incoming edges, weights per layer and head",
    ),
    (
        View(SPOKEN_WORD, _frames, _spoken_word_json, carries=_SPEECH),
        "a recording's log-mel frames, pooling weights and self-attention",
    ),
    (
        View(
            SPECTROGRAM_ALIGNMENT,
            _spectrogram_alignment,
            _spoken_date_json,
            carries=_SPEECH,
            n_heads=lambda p: _heads_of(p.weights),
        ),
        "output tokens over the encoder positions of a recording",
    ),
    (View(LABEL, _label, _label_json), "a class label without attention to show"),
    (
        View(
            SELF_ATTENTION,
            plot_self_attention,
            self_attention_json,
            script=SELF_ATTENTION_SCRIPT,
            carries=frozenset({"tokens", "weights", "causal", "prompt_length", "explanations"}),
            n_heads=lambda p: int(p.weights.shape[1]),
            page_json=self_attention_page_json,
        ),
        "tokens over tokens of one sequence: a head view and the layers x heads grid, every layer and head",
    ),
    (
        View(
            TAGGING,
            plot_tagging,
            tagging_json,
            script=TAGGING_SCRIPT,
            carries=frozenset({"words", "tags", "probabilities", "unseen", "weights", "layer"}),
            n_heads=lambda p: int(p.weights.shape[1]) if p.weights.shape[0] else 0,
        ),
        "one tag per word for each target, and the words each word attended to (one layer: arcs and heatmap)",
    ),
]:
    VIEWS.register(_view.kind, _view, _description)
