"""Evaluate a model on a list of task examples: exact match and alignment accuracy."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..decoding import Translation, translate
from ..heads import HeadChoice, select_heads
from .metrics import alignment_accuracy, exact_match, zero_share

__all__ = ["evaluate_examples"]


def evaluate_examples(model: nn.Module, task, examples: Sequence, *, batch_size: int = 512,
                      batch_tokens: int | None = 8000,
                      beam_size: int = 1, alpha: float = 0.6, beta: float = 0.0,
                      stop: str = "heuristic", precision: str = "fp32", heads: HeadChoice = "mean",
                      ) -> tuple[dict[str, float], list[Translation]]:
    """Decode `examples` (greedy, or beam search when ``beam_size > 1``; the decoding arguments
    are :func:`~attnkit.decoding.translate`'s) and score them.

    Args:
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
        ValueError: for `heads` naming no head of the model (and the errors of ``translate``).
    """
    translations = translate(model, task, [(e.text, e.locale) for e in examples],
                             batch_size=batch_size, batch_tokens=batch_tokens, beam_size=beam_size,
                             alpha=alpha, beta=beta, stop=stop, precision=precision)
    metrics: dict[str, float] = {
        "exact_match": exact_match([t.output for t in translations], [e.target for e in examples]),
        "n": len(examples),
    }
    if translations and translations[0].weights is not None:
        maps = [select_heads(t.weights, heads) for t in translations]  # (To, Tk) each
        acc, n = alignment_accuracy(maps, [task.gold_alignment(e) for e in examples])
        metrics.update(alignment_accuracy=acc, n_aligned=n, zero_weight_share=zero_share(maps))
    return metrics, translations
