"""Evaluate a model on a list of task examples: exact match and alignment accuracy."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..decoding import DecodeOptions, Translation
from ..heads import HeadChoice, select_heads
from .metrics import alignment_accuracy, exact_match, zero_share

__all__ = ["evaluate_examples"]


def evaluate_examples(
    model: nn.Module, task, examples: Sequence, *, decode: DecodeOptions | None = None, heads: HeadChoice = "mean"
) -> tuple[dict[str, float], list[Translation]]:
    """Decode `examples` (greedy, or beam search when ``decode.beam_size > 1``, through the
    task's ``translate``) and score them.

    Args:
        decode: how to decode (None: greedy).
        heads: for multi-head models (the Transformer, whose translations carry per-head
            weights (Nh, To, Tk)), the map that alignment accuracy and the zero-weight share
            are computed on: ``"mean"`` over the heads (the default, what the README reports)
            or a head index in [0, Nh); see :func:`attnkit.heads.select_heads`. Single-head
            (RNN) weights are used as they are.

    Returns:
        (metrics, translations). Metrics: ``exact_match`` in [0, 1], ``n`` examples, and for
        models with attention ``alignment_accuracy`` in [0, 1] over ``n_aligned`` output digits
        and ``zero_weight_share``, the share of alignment weights that are exactly 0 (sparse and
        hard attention make many), both on the maps `heads` chooses. The translations keep
        their weights as decoded (per head for multi-head models).

    Raises:
        ValueError: for `heads` naming no head of the model.
    """
    translations = task.translate(model, [(e.text, e.locale) for e in examples], decode)
    metrics: dict[str, float] = {
        "exact_match": exact_match([t.output for t in translations], [e.target for e in examples]),
        "n": len(examples),
    }
    if translations and translations[0].weights is not None:
        maps = [select_heads(t.weights, heads) for t in translations]  # (To, Tk) each
        acc, n = alignment_accuracy(maps, [task.gold_alignment(e) for e in examples])
        metrics.update(alignment_accuracy=acc, n_aligned=n, zero_weight_share=zero_share(maps))
    return metrics, translations
