"""Metrics: exact match, alignment accuracy of attention against gold source spans, and the
monotonicity of alignments."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor

from ..heads import HeadChoice, select_heads

__all__ = ["exact_match", "alignment_accuracy", "zero_share", "alignment_monotonicity"]


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Share of hypotheses identical to their reference, in [0, 1].

    Raises:
        ValueError: if the two lists differ in length or are empty.
    """
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"need equally many hypotheses and references (> 0), got {len(hypotheses)} and {len(references)}"
        )
    return sum(h == r for h, r in zip(hypotheses, references)) / len(references)


def alignment_accuracy(
    weights: Sequence[Tensor | None], gold: Sequence[Sequence[tuple[int, int, int]]], *, heads: HeadChoice = "mean"
) -> tuple[float, int]:
    """Share of output positions whose most-attended source position lies in its gold span.

    Args:
        weights: per sentence, alignment weights (To, Tk), or per head (Nh, To, Tk): row t is
            the distribution over source positions when output token t was produced.
        gold: per sentence, (t, start, end) triples: output position t should look at source
            positions [start, end). Positions t beyond the sentence's output are counted as misses.
        heads: for per-head weights, the map to score: ``"mean"`` (the mean over heads, the
            default) or a head index in [0, Nh); see :func:`attnkit.heads.select_heads`.
            Single-head weights (To, Tk) are scored as they are.

    Returns:
        (accuracy in [0, 1], number of positions checked).

    Raises:
        ValueError: if a sentence has no weights (a model without attention), lengths differ,
            or `heads` names no head of the weights.
    """
    if len(weights) != len(gold):
        raise ValueError(f"{len(weights)} weight matrices for {len(gold)} gold alignments")
    hits = total = 0
    for w, spans in zip(weights, gold):
        if w is None:
            raise ValueError("alignment accuracy needs attention weights; this model has none")
        argmax = select_heads(w, heads).argmax(dim=-1).tolist()  # (To,)
        for t, start, end in spans:
            total += 1
            hits += t < len(argmax) and start <= argmax[t] < end
    return (hits / total if total else 0.0), total


def zero_share(weights: Sequence[Tensor]) -> float:
    """Share of all entries of the weight matrices that are exactly 0, in [0, 1] (0 if empty)."""
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / total if total else 0.0


def alignment_monotonicity(weights: Sequence[Tensor], *, strict: bool = False) -> tuple[float, int]:
    """Share of output steps whose attention peak does not move backwards in time.

    For each alignment (To, Tk) (rows = output steps, columns = source positions / frames), the
    peak of step t is argmax_j alpha_{t,j}; step t >= 1 counts as monotonic when its peak is at
    or after the peak of step t - 1. Attention-based recognisers are expected to move forwards
    through the sound [Chorowski15] Sec. 2.2. An alignment whose peak never moves is perfectly
    monotonic; ``strict=True`` counts only steps whose peak moves strictly forwards, which tells
    the two apart.

    Args:
        weights: one (To, Tk) alignment per example (select a head first for multi-head models).
        strict: count a step only when its peak lies strictly after the previous step's.

    Returns:
        (share in [0, 1], number of step pairs counted); (0.0, 0) when no alignment has two steps.

    Raises:
        ValueError: if an alignment is not 2-D.
    """
    hits = total = 0
    for w in weights:
        if w.dim() != 2:
            raise ValueError(f"an alignment must be (To, Tk), got {tuple(w.shape)}")
        peaks = w.argmax(dim=-1)  # (To,)
        hits += int((peaks[1:] > peaks[:-1]).sum() if strict else (peaks[1:] >= peaks[:-1]).sum())
        total += max(0, len(peaks) - 1)
    return (hits / total if total else 0.0), total
