"""The prediction of a sequence labelling task (kind :data:`~attnkit.predictions.TAGGING`): each
word's tags, and which words each word attended to when it was tagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np

from ..predictions import TAGGING

__all__ = ["TaggingPrediction", "tagging_prediction", "most_attended"]


@dataclass
class TaggingPrediction:
    """The tags of one sentence.

    Attributes:
        output: the printed lines: one per word, the word, its tag for each target and, for a
            model with self-attention, the other word it attended to most (in `layer`, mean
            over heads).
        words: the T words as the model read them.
        tags: target name -> the T predicted tags.
        unseen: per word, True when its form never occurs in the training data.
        probabilities: target name -> the probability of each predicted tag, in [0, 1]; empty
            when not computed (evaluation).
        weights: alignment weights of every self-attention layer and head, (L, Nh, T, T)
            float32, rows (the word being tagged) over columns (the words it attends to);
            L = 0 for a model without self-attention.
        layer: the layer the picture shows (negative: counted from the last).
    """

    kind: ClassVar[str] = TAGGING

    output: str
    words: list[str]
    tags: dict[str, list[str]]
    unseen: list[bool]
    probabilities: dict[str, list[float]] = field(default_factory=dict)
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 0), np.float32))
    layer: int = -1

    @property
    def tokens(self) -> list[str]:
        """The words, for the self-attention drawings."""
        return self.words


def most_attended(weights: np.ndarray, layer: int = -1) -> list[int | None]:
    """Per word, the other word it attends to most in `layer` (mean over heads); None for a
    one-word sentence or no attention.

    Args:
        weights: (L, Nh, T, T) alignment weights.
        layer: the layer (negative: counted from the last).
    """
    if weights.ndim != 4 or weights.shape[0] == 0 or weights.shape[-1] < 2:
        return [None] * (weights.shape[-1] if weights.ndim == 4 else 0)
    mean = weights[layer].mean(axis=0).astype(np.float64)  # (T, T)
    np.fill_diagonal(mean, -1.0)
    return [int(k) for k in mean.argmax(axis=-1)]


def tagging_prediction(
    words: Sequence[str],
    tags: dict[str, list[str]],
    unseen: Sequence[bool],
    probabilities: dict[str, list[float]] | None = None,
    weights: Sequence[np.ndarray] = (),
    layer: int = -1,
) -> TaggingPrediction:
    """A :class:`TaggingPrediction` with its printed lines.

    Args:
        words: the T words.
        tags: target -> T tags.
        unseen: per word, unseen in training.
        probabilities: target -> T probabilities of the tags.
        weights: one (Nh, T, T) map per self-attention layer, bottom first.
        layer: the layer the picture shows.
    """
    stacked = (
        np.stack(weights).astype(np.float32) if len(weights) else np.zeros((0, 0, len(words), len(words)), np.float32)
    )
    targets = list(tags)
    focus = most_attended(stacked, layer)
    width = max(len(w) for w in words)
    lines = []
    for i, word in enumerate(words):
        cells = [f"{word:<{width}}"]
        for t in targets:
            p = f" ({probabilities[t][i]:.2f})" if probabilities and t in probabilities else ""
            cells.append(f"{tags[t][i]}{p}")
        if unseen[i]:
            cells.append("[unseen]")
        k = focus[i]
        if k is not None:
            cells.append(f"-> {words[k]} ({float(stacked[layer, :, i, k].mean()):.2f})")
        lines.append("  ".join(cells))
    return TaggingPrediction("\n".join(lines), list(words), tags, list(unseen), probabilities or {}, stacked, layer)
