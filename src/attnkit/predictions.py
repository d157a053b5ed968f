"""Predictions and their kinds.

Every prediction a task makes from raw input carries ``output`` (the line printed for it) and
``kind``: a registered name saying what its attention is (an alignment of output tokens over
input tokens, overlays on an image, a node's neighbourhood, a spectrogram...). The views
registry (:data:`attnkit.viz.views.VIEWS`) maps a kind to its picture, its JSON and the
explorer's drawing code; nothing works the kind out again from a prediction's field names.

The built-in kinds are named here (layer 0), so that the layers that make predictions (decoding,
tasks) and the layers that show them (viz, the CLI, the explorer) share one spelling. A kind
defined outside attnkit is any other string, registered with its view.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

__all__ = [
    "Prediction",
    "TEXT_ALIGNMENT",
    "DOCUMENT",
    "IMAGE_OVERLAY",
    "CAPTION",
    "GRAPH_NEIGHBOURHOOD",
    "SPOKEN_WORD",
    "SPECTROGRAM_ALIGNMENT",
    "LABEL",
    "SELF_ATTENTION",
    "TAGGING",
    "BUILTIN_KINDS",
]

TEXT_ALIGNMENT = "text-alignment"  # output tokens over source tokens: weights (To, Tk) or (Nh, To, Tk)
DOCUMENT = "document"  # a document's word and sentence weights (hierarchical attention)
IMAGE_OVERLAY = "image-overlay"  # attention maps over an image, a spatial transformer's output
CAPTION = "caption"  # one map over the image per generated word
GRAPH_NEIGHBOURHOOD = "graph-neighbourhood"  # a node's incoming edges, weights per layer and head
SPOKEN_WORD = "spoken-word"  # log-mel frames, pooling weights, self-attention over positions
SPECTROGRAM_ALIGNMENT = "spectrogram-alignment"  # output tokens over encoder positions of a recording
LABEL = "label"  # a class label without attention to show
SELF_ATTENTION = "self-attention"  # tokens over tokens of one sequence: every layer and head (L, Nh, T, T)
TAGGING = "tagging"  # one tag per word for each target, and the words each word attended to (L, Nh, T, T)

BUILTIN_KINDS = (
    TEXT_ALIGNMENT,
    DOCUMENT,
    IMAGE_OVERLAY,
    CAPTION,
    GRAPH_NEIGHBOURHOOD,
    SPOKEN_WORD,
    SPECTROGRAM_ALIGNMENT,
    LABEL,
    SELF_ATTENTION,
    TAGGING,
)


@runtime_checkable
class Prediction(Protocol):
    """One prediction from raw input: the printed ``output`` and the ``kind`` of its attention
    (a class attribute of the prediction type); the attention itself is in the kind's fields."""

    kind: ClassVar[str]
    output: str
