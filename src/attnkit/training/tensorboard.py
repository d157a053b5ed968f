"""TensorBoard logging of a training run (``train.tensorboard: true``), into ``RUN/tensorboard/``.

At every step the training loss and learning rate (``train/loss``, ``train/lr``); at every
validation the validation record's loss, learning rate, score and every numeric dev metric
(``dev/<metric>``, as in ``metrics.jsonl``), and the attention pictures of a few fixed dev
examples (``attention/<i>``), each prediction drawn by the views registry
(:func:`attnkit.viz.prediction_png`, passed in as `render`: the pictures live a layer above
training). Written with :class:`torch.utils.tensorboard.SummaryWriter`, which needs the
``tensorboard`` package (``pip install 'attnkit[tensorboard]'``); view with
``tensorboard --logdir RUN/tensorboard``. A resumed run appends to the same folder; its first
step purges what an interrupted run had logged from that step on, so no curve doubles back.
"""

from __future__ import annotations

import importlib.util
import io
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import ConfigError

__all__ = ["TensorBoardLog", "require_tensorboard", "N_EXAMPLES", "FOLDER"]

log = logging.getLogger(__name__)

N_EXAMPLES = 3  # dev examples whose attention is drawn at each validation
FOLDER = "tensorboard"  # inside the run folder

Render = Callable[[Any], bytes]  # a prediction -> its picture as PNG bytes


def require_tensorboard() -> None:
    """Raise a one-line :class:`ConfigError` when the ``tensorboard`` package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "train.tensorboard: true needs the tensorboard package: pip install 'attnkit[tensorboard]' "
            "(or pip install tensorboard), or set train.tensorboard: false"
        )


class TensorBoardLog:
    """The trainer's monitor that writes TensorBoard event files (rank 0 only).

    Args:
        log_dir: where the event files go (``RUN/tensorboard``).
        task: the run's task; its ``evaluate`` makes the predictions of `examples`.
        examples: the fixed dev examples drawn at each validation (the first :data:`N_EXAMPLES`).
        render: a prediction -> PNG bytes (the views registry's picture); None: no pictures.

    Raises:
        ConfigError: if the ``tensorboard`` package is not installed.
    """

    def __init__(self, log_dir: str | Path, task: Any, examples: Sequence, render: Render | None) -> None:
        require_tensorboard()
        self.log_dir = Path(log_dir)
        self.writer: Any = None  # a SummaryWriter, opened at the first step
        self.task, self.examples, self.render = task, list(examples), render

    def _writer(self, step: int) -> Any:
        """The writer, opened at the first step it is told (purging later events of an earlier try)."""
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when asked for

            self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=step)
        return self.writer

    def step(self, step: int, loss: float, lr: float) -> None:
        """One training step's loss (per loss unit) and learning rate."""
        writer = self._writer(step)
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("train/lr", lr, step)

    def validated(self, record: dict[str, Any], model: nn.Module) -> None:
        """A validation's record (``metrics.jsonl``'s line) and the pictures of the fixed examples."""
        step = int(record["step"])
        writer = self._writer(step)
        for key, value in record.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            tag = f"dev/{key[4:]}" if key.startswith("dev_") else f"validation/{key}"
            writer.add_scalar(tag, value, step)
        for i, png in enumerate(self._pictures(model)):
            image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))  # (H, W, 3) uint8
            writer.add_image(f"attention/{i}", image, step, dataformats="HWC")
        writer.flush()

    def _pictures(self, model: nn.Module) -> list[bytes]:
        if self.render is None or not self.examples:
            return []
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                _, predictions = self.task.evaluate(model, self.examples)
        finally:
            model.train(was_training)
        pictures = []
        for prediction in predictions:
            try:
                pictures.append(self.render(prediction))
            except ValueError as err:  # a prediction without attention to draw (a kind with no picture)
                log.debug("tensorboard: no picture of a dev example: %s", err)
        return pictures

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
