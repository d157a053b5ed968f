"""Metrics of sequence labelling: accuracy over words, accuracy on words unseen in training,
per-tag precision / recall / F1, macro-F1 and the confusion matrix."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["tagging_metrics", "MAX_CONFUSION_TAGS"]

#: a target with more tags than this gets no confusion matrix (1,066 morphology codes would make
#: a matrix of a million cells); its per-tag scores are still given
MAX_CONFUSION_TAGS = 64


def tagging_metrics(
    predicted: Sequence[int] | np.ndarray,
    gold: Sequence[int] | np.ndarray,
    unseen: Sequence[bool] | np.ndarray,
    tags: Sequence[str],
) -> dict[str, Any]:
    """Scores of predicted tag ids against gold tag ids, one pair per word (padding removed).

    Precision of a tag is the share of the words predicted as it that have it, recall the share
    of the words that have it that are predicted as it, F1 = 2PR / (P + R) (0 when P + R = 0).
    Macro-F1 is the unweighted mean of F1 over the tags that occur in `gold` or in `predicted`
    (a tag absent from both says nothing about this sample).

    Args:
        predicted, gold: tag ids in [0, len(tags)), one per word.
        unseen: per word, True when its form never occurs in the training data.
        tags: the tag names, by id.

    Returns:
        {"accuracy", "unseen_accuracy" (None without unseen words), "n", "n_unseen", "macro_f1",
        "per_tag": {tag: {"precision", "recall", "f1", "n"}} for the tags that occur,
        "confusion": (C, C) counts (row = gold, column = predicted) when C <= MAX_CONFUSION_TAGS}.

    Raises:
        ValueError: if the sequences differ in length or are empty, or an id is out of range.
    """
    pred, true, new = np.asarray(predicted, dtype=np.int64), np.asarray(gold, dtype=np.int64), np.asarray(unseen, bool)
    if not (len(pred) == len(true) == len(new)) or not len(true):
        raise ValueError(
            f"need as many predictions, gold tags and unseen flags (> 0), got {len(pred)}, {len(true)}, {len(new)}"
        )
    n_tags = len(tags)
    if ((pred < 0) | (pred >= n_tags) | (true < 0) | (true >= n_tags)).any():
        raise ValueError(f"tag ids must lie in [0, {n_tags})")
    right = pred == true
    tp = np.bincount(true[right], minlength=n_tags)
    n_gold, n_pred = np.bincount(true, minlength=n_tags), np.bincount(pred, minlength=n_tags)
    per_tag, f1s = {}, []
    for t in np.flatnonzero((n_gold + n_pred) > 0):
        precision = tp[t] / n_pred[t] if n_pred[t] else 0.0
        recall = tp[t] / n_gold[t] if n_gold[t] else 0.0
        f1 = 2 * tp[t] / (n_gold[t] + n_pred[t])  # = 2PR / (P + R)
        per_tag[tags[int(t)]] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "n": int(n_gold[t]),
        }
        f1s.append(f1)
    out: dict[str, Any] = {
        "accuracy": float(right.mean()),
        "unseen_accuracy": float(right[new].mean()) if new.any() else None,
        "n": int(len(true)),
        "n_unseen": int(new.sum()),
        "macro_f1": float(np.mean(f1s)),
        "per_tag": per_tag,
    }
    if n_tags <= MAX_CONFUSION_TAGS:
        confusion = np.zeros((n_tags, n_tags), dtype=np.int64)
        np.add.at(confusion, (true, pred), 1)
        out["confusion"] = confusion.tolist()
    return out
