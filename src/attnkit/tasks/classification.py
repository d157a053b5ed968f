"""What every classification task shares: the split-fraction check of its config, the report of
:func:`attnkit.evaluation.classification_metrics`, and the light per-example prediction of an
evaluation. (A classifier decodes nothing: its ``evaluate`` and ``predict`` take ``decode=None``
and ignore it; the CLI and the explorer refuse decoding options for it from the run's declared
capabilities.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..evaluation import classification_metrics
from ..predictions import LABEL
from ..progress import Progress

__all__ = ["ClassLabel", "check_split_fractions", "classification_report", "score_classifier"]


@dataclass
class ClassLabel:
    """The predicted class of one evaluated example (no attention kept: a test set's would not
    fit in memory; a task's ``predict`` returns it for chosen inputs)."""

    kind: ClassVar[str] = LABEL

    output: str
    probability: float
    label: int


def check_split_fractions(cfg: Any) -> None:
    """Raises ConfigError unless ``cfg.dev_fraction`` and ``cfg.test_fraction`` lie in (0, 1)
    with a sum below 1."""
    if not (0 < cfg.dev_fraction < 1 and 0 < cfg.test_fraction < 1 and cfg.dev_fraction + cfg.test_fraction < 1):
        raise ConfigError(
            f"data.dev_fraction and data.test_fraction must lie in (0, 1) with a sum below 1, "
            f"got {cfg.dev_fraction} and {cfg.test_fraction}"
        )


def classification_report(metrics: Mapping[str, Any], unit: str, *, detailed: bool = False) -> list[str]:
    """Lines of count (`unit`: "documents", "images", ...), accuracy and macro-F1, and with
    `detailed` the accuracy of every class."""
    lines = [
        f"{unit + ':':<18}{metrics['n']}",
        f"{'accuracy:':<18}{metrics['accuracy']:.2%}",
        f"{'macro-F1:':<18}{metrics['macro_f1']:.3f}",
    ]
    if detailed:
        for name, acc in zip(metrics["classes"], metrics["per_class_accuracy"]):
            lines.append(f"  {name:<16}{'n/a' if acc is None else f'{acc:.2%}'}")
    return lines


@torch.no_grad()
def score_classifier(
    model: nn.Module,
    batches: Iterable[Tensor],
    labels: Sequence[int],
    classes: Sequence[str],
    logits: Callable[[nn.Module, Tensor], Tensor] = lambda m, x: m(x).logits,
) -> tuple[dict[str, Any], list[ClassLabel]]:
    """The metrics of :func:`attnkit.evaluation.classification_metrics` (with ``classes``) and one
    :class:`ClassLabel` per example, from a classifier's softmax over the input `batches`
    (each (B, ...), in the order of `labels`); `logits` reads a model's output."""
    device = next(model.parameters()).device
    probs = []
    with Progress(len(labels), desc="evaluate", unit="example") as bar:  # a bar on a terminal, else log lines
        for x in batches:
            probs.append(torch.softmax(logits(model, x.to(device)).float(), dim=-1).cpu())
            bar.update(len(x))
    p = torch.cat(probs) if probs else torch.zeros(0, len(classes))
    predicted = p.argmax(dim=-1).tolist()
    metrics = classification_metrics(predicted, list(labels), len(classes))
    metrics["classes"] = classes
    preds = [ClassLabel(classes[k], float(p[i, k]), y) for i, (k, y) in enumerate(zip(predicted, labels))]
    return metrics, preds
