"""Fitting a model that counts instead of descending a gradient (the dictionary tagger).

A family declares it with :attr:`attnkit.capabilities.ModelCapabilities.counts`; the model then
has ``fit(batches)``, which sets its buffers from an iterable of the task's training batches
(each seen once, in the order of the training items). :func:`fit_by_counting` is what
``attnkit train`` (:func:`attnkit.training.pipeline.train_run`) runs for such a model instead of
the :class:`~attnkit.training.trainer.Trainer`'s loop: it hands the model every training batch,
validates once and writes the same files as a trained run (``model.safetensors``, one line of
``metrics.jsonl`` at step 0); there is no optimiser, no step and no resumable state (resuming
counts again from the start, which gives the same model).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from torch import nn

from .checkpoint import save_weights
from .trainer import TrainResult

__all__ = ["CountingModel", "fit_by_counting"]

log = logging.getLogger(__name__)


class CountingModel(Protocol):
    """A model declaring ``counts=True``."""

    def fit(self, batches: Any) -> None:
        """Set the model's counts from `batches` (an iterable of the task's collated batches)."""


def fit_by_counting(
    model: nn.Module,
    task: Any,
    items: Sequence,
    validate: Callable[[nn.Module], dict],
    run_dir: str | Path,
    *,
    batch_size: int,
) -> TrainResult:
    """Fit `model` by counting over the training `items` (batches of `batch_size`), validate it
    once and save it into `run_dir`.

    Returns:
        A :class:`TrainResult` with 0 steps, the dev score and the seconds taken.

    Raises:
        ValueError: if `items` is empty.
    """
    if not items:
        raise ValueError("no training items")
    run_dir = Path(run_dir)
    start = time.perf_counter()
    batches = (task.collate(items[i : i + batch_size]) for i in range(0, len(items), batch_size))
    model.eval()
    model.fit(batches)  # type: ignore[operator]  # declared by ModelCapabilities.counts, checked on load
    metrics = validate(model)
    seconds = time.perf_counter() - start
    score = metrics[task.metric.name]
    dev = {
        f"dev_{k}": v
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "n" and not k.startswith("n_")
    }
    record = {"step": 0, "loss": None, "seconds": round(seconds, 2), "score": score, **dev}
    save_weights(model, run_dir / "model.safetensors")
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    log.info(
        "counted %d training items in %.1f s: %s",
        len(items),
        seconds,
        ", ".join(f"{k} {v:.4f}" for k, v in dev.items()),
    )
    return TrainResult(0, 0, score, seconds, False, [record])
