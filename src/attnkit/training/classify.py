"""A training loop for classifiers (such as the Hierarchical Attention Network), and their metrics.

One epoch is one pass over the training items in mini-batches; items of similar size share a
batch (bucketing), which cuts padding. Adam with gradient-norm clipping; after every epoch the
model is scored on dev, the weights with the best dev accuracy so far are written with
:func:`attnkit.training.checkpoint.save_weights` (safetensors), and training stops after
``patience`` epochs without improvement. At the end the best weights are loaded back.

What an item is and how a batch of items becomes tensors come from the caller: `collate` maps a
list of items to ``(inputs, labels)`` and the model is called as ``model(*inputs)``, returning
logits (B, C) or an object with a ``logits`` attribute (as :class:`attnkit.models.HANOutput`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .checkpoint import load_weights, save_weights

__all__ = ["ClassifierConfig", "ClassifierResult", "train_classifier", "predict", "bucket_batches",
           "classification_metrics"]

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Collate = Callable[[Sequence[Item]], "tuple[tuple[Tensor, ...], Tensor]"]  # -> (inputs, labels (B,))


@dataclass(frozen=True)
class ClassifierConfig:
    """Settings of :func:`train_classifier`.

    Attributes:
        epochs: most passes over the training data.
        batch_size: items per mini-batch.
        lr: Adam learning rate.
        weight_decay: Adam L2 penalty.
        clip_norm: largest global gradient norm; 0 turns clipping off.
        patience: epochs without a better dev accuracy before stopping; 0 = never stop early.
        bucket: batches per bucket: items are shuffled, cut into pools of ``bucket * batch_size``,
            sorted by size within a pool and batched; 1 = no sorting.
        seed: seed of the batch order.
    """

    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float = 5.0
    patience: int = 3
    bucket: int = 20
    seed: int = 1234

    def check(self) -> None:
        """Raises ValueError naming the first field out of range."""
        for name in ("epochs", "batch_size", "bucket"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.clip_norm < 0 or self.patience < 0:
            raise ValueError("lr must be > 0; weight_decay, clip_norm and patience >= 0")


@dataclass
class ClassifierResult:
    """What :func:`train_classifier` did: one history row per epoch (epoch, train_loss,
    dev_accuracy, dev_macro_f1, seconds), the best epoch (1-based) and its dev accuracy."""

    best_epoch: int
    best_dev_accuracy: float
    seconds: float
    stopped_early: bool
    history: list[dict] = field(default_factory=list)


def bucket_batches(sizes: Sequence[float], batch_size: int, bucket: int,
                   generator: torch.Generator) -> list[list[int]]:
    """Mini-batches of indices into `sizes`, similar sizes together, in random order.

    Args:
        sizes: a size per item (e.g. padded words of a document); only their order matters.
        batch_size: items per batch (the last batch of a pool may be smaller).
        bucket: batches per pool of sorted items; 1 gives plain shuffled batches.
        generator: source of the randomness.

    Returns:
        Batches that together hold every index exactly once.
    """
    order = torch.randperm(len(sizes), generator=generator).tolist()
    pool = batch_size * bucket
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        if bucket > 1:
            chunk.sort(key=lambda i: sizes[i])
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _logits(out) -> Tensor:
    return getattr(out, "logits", out)


@torch.no_grad()
def predict(model: nn.Module, items: Sequence[Item], collate: Collate, *, batch_size: int = 32,
            size: Callable[[Item], float] | None = None) -> tuple[Tensor, Tensor]:
    """Class probabilities and gold labels of `items`, in their order (model in eval mode while
    predicting; its mode is restored afterwards).

    Returns:
        (probabilities (N, C) in [0, 1], labels (N,)).
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(items)), key=lambda i: size(items[i])) if size else list(range(len(items)))
    probs, labels = [None] * len(items), [None] * len(items)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        inputs, gold = collate([items[i] for i in idx])
        p = F.softmax(_logits(model(*inputs)).float(), dim=-1)  # (B, C)
        for k, i in enumerate(idx):
            probs[i], labels[i] = p[k], gold[k]
    model.train(was_training)
    if not items:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.stack(probs), torch.stack(labels)


def classification_metrics(predicted: Sequence[int] | Tensor, gold: Sequence[int] | Tensor,
                           n_classes: int) -> dict:
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
    return {"accuracy": sum(p == g for p, g in zip(pred, true)) / len(true), "macro_f1": sum(f1s) / n_classes,
            "per_class_accuracy": per_class, "confusion": confusion, "n": len(true)}


@dataclass
class _Best:
    epoch: int = 0
    accuracy: float = -1.0
    macro_f1: float = -1.0


def train_classifier(model: nn.Module, train: Sequence[Item], dev: Sequence[Item], collate: Collate,
                     n_classes: int, weights_path: str | Path, *, config: ClassifierConfig = ClassifierConfig(),
                     size: Callable[[Item], float] | None = None, progress: bool = True,
                     label: str = "train") -> ClassifierResult:
    """Train `model` with cross-entropy on `train`, keep the weights with the best dev accuracy.

    Args:
        model: a classifier; ``model(*inputs)`` gives logits (B, C) or an object with ``.logits``.
        train, dev: the items (dev must not be empty).
        collate: items -> (inputs, labels (B,) of class indices in [0, C)).
        n_classes: number of classes C.
        weights_path: where the best weights go (a ``.safetensors`` file, written atomically).
        config: optimisation settings.
        size: an item's size for bucketing (e.g. its padded word count); None = no bucketing.
        progress: show a tqdm bar (one step per batch) on stderr.
        label: the bar's description.

    Returns:
        The history and best epoch; `model` holds the best weights, in eval mode.

    Raises:
        ValueError: if `config` is out of range or `train` or `dev` is empty.
    """
    config.check()
    if not train or not dev:
        raise ValueError(f"need training and dev items, got {len(train)} and {len(dev)}")
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sizes = [size(x) for x in train] if size else [0.0] * len(train)
    bucket = config.bucket if size else 1
    best, history, stopped_early = _Best(), [], False
    n_batches = math.ceil(len(train) / config.batch_size)
    start = time.perf_counter()
    bar = tqdm(total=config.epochs * n_batches, disable=not progress, unit="batch", desc=label, leave=False)
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_start, total_loss = time.perf_counter(), 0.0
        for idx in bucket_batches(sizes, config.batch_size, bucket, generator):
            inputs, labels = collate([train[i] for i in idx])
            loss = F.cross_entropy(_logits(model(*inputs)), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_norm:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            total_loss += loss.item() * len(idx)
            bar.update()
        probs, gold = predict(model, dev, collate, batch_size=2 * config.batch_size, size=size)
        dev_metrics = classification_metrics(probs.argmax(-1), gold, n_classes)
        row = {"epoch": epoch, "train_loss": total_loss / len(train), "dev_accuracy": dev_metrics["accuracy"],
               "dev_macro_f1": dev_metrics["macro_f1"], "seconds": time.perf_counter() - epoch_start}
        history.append(row)
        improved = (row["dev_accuracy"], row["dev_macro_f1"]) > (best.accuracy, best.macro_f1)
        if improved:
            best = _Best(epoch, row["dev_accuracy"], row["dev_macro_f1"])
            save_weights(model, weights_path)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", dev=f"{row['dev_accuracy']:.3f}", best=best.epoch)
        log.info("%s epoch %d: train loss %.4f, dev accuracy %.4f, macro-F1 %.4f (%.0f s)%s", label, epoch,
                 row["train_loss"], row["dev_accuracy"], row["dev_macro_f1"], row["seconds"],
                 " *" if improved else "")
        if config.patience and epoch - best.epoch >= config.patience and epoch < config.epochs:
            stopped_early = True
            break
    bar.close()
    load_weights(model, weights_path)
    model.eval()
    return ClassifierResult(best.epoch, best.accuracy, time.perf_counter() - start, stopped_early, history)
