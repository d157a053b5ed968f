"""Metrics of classifiers: accuracy, macro-F1, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from torch import Tensor

__all__ = ["classification_metrics"]


def classification_metrics(
    predicted: Sequence[int] | Tensor | np.ndarray, gold: Sequence[int] | Tensor | np.ndarray, n_classes: int
) -> dict:
    """Accuracy, macro-F1 and per-class accuracy (recall) of predicted class indices.

    Macro-F1 is the unweighted mean over all `n_classes` classes of F1 = 2PR / (P + R), taking a
    class's F1 as 0 when it is never predicted or never occurs (scikit-learn's
    ``f1_score(average="macro", zero_division=0)``). Per-class accuracy is the share of a class's
    items predicted as that class (None for a class with no item).

    Returns:
        {"accuracy": float, "macro_f1": float, "per_class_accuracy": [float | None] * C,
        "confusion": C x C counts (row = gold, column = predicted), "n": int}.

    Raises:
        ValueError: if the sequences differ in length or are empty, or a label is out of range.
    """
    pred = [int(p) for p in predicted]
    true = [int(g) for g in gold]
    if len(pred) != len(true) or not true:
        raise ValueError(f"need equally many predictions and labels (> 0), got {len(pred)} and {len(true)}")
    if not all(0 <= x < n_classes for x in pred + true):
        raise ValueError(f"class indices must lie in [0, {n_classes})")
    confusion = [[0] * n_classes for _ in range(n_classes)]
    for p, g in zip(pred, true):
        confusion[g][p] += 1
    f1s, per_class = [], []
    for c in range(n_classes):
        tp = confusion[c][c]
        n_true, n_pred = sum(confusion[c]), sum(row[c] for row in confusion)
        f1s.append(2 * tp / (n_true + n_pred) if n_true + n_pred else 0.0)  # = 2PR / (P + R)
        per_class.append(tp / n_true if n_true else None)
    return {
        "accuracy": sum(p == g for p, g in zip(pred, true)) / len(true),
        "macro_f1": sum(f1s) / n_classes,
        "per_class_accuracy": per_class,
        "confusion": confusion,
        "n": len(true),
    }
