"""A run folder: its config, the task's files, weights and metrics; rebuilding a model from it.

Every run, whatever its task and model family, has the same layout: ``config.yaml`` (the
resolved config), ``run.json`` (the attnkit version that made it; none before 0.2.0),
``model.safetensors`` (best weights), ``metrics.jsonl`` (one line per
validation), the task's own files (vocabularies or subword models, ``data/{train,dev,test}.*``),
``plots/``, and for resuming ``last.safetensors`` + ``trainer_state.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..config import ConfigError, RunConfig, family_of, task_of
from .checkpoint import CheckpointError, load_weights
from .run_record import load_run_config

__all__ = ["Run", "RunError", "build_model", "load_run", "model_label"]


class RunError(ValueError):
    """A run folder that is missing or incomplete or corrupt."""


def build_model(cfg: RunConfig, task) -> nn.Module:
    """The model the config's family builds for the task's :class:`~attnkit.models.ModelSpec`."""
    return family_of(cfg).build(cfg.model, task.spec)


def model_label(cfg: RunConfig) -> str:
    """A short name of the configured model, from its family (an RNN's attention, else the family)."""
    return family_of(cfg).label(cfg.model)


@dataclass
class Run:
    path: Path
    config: RunConfig
    task: object
    model: nn.Module

    @property
    def label(self) -> str:
        return model_label(self.config)


def load_run(path: str | Path, *, device: str = "cpu") -> Run:
    """Load a trained run for prediction or evaluation (model in eval mode, on `device`).

    Run folders written by attnkit 0.1 (before 0.2.0, without ``run.json``) load too: their
    configs are converted on reading (:mod:`attnkit.training.run_record`); the HAN study folders
    of 0.1 (``han-config.json``) are not runs and are refused with a
    one-line message saying how to make one.

    Raises:
        RunError: if the folder, its config, the task's files or the weights are missing or corrupt.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run folder {path} not found; train one with `attnkit train CONFIG --out DIR`")
    if (path / "han-config.json").is_file() and not (path / "config.yaml").is_file():
        raise RunError(f"{path} is a HAN study folder of attnkit 0.1, not a run; make a run with "
                       "`attnkit train configs/bible-sections-han.yaml --out DIR` (or `attnkit study han`)")
    try:
        cfg = load_run_config(path)
        task = task_of(cfg).load(cfg.data, path)
        model = build_model(cfg, task)
        load_weights(model, path / "model.safetensors")
    except (ConfigError, CheckpointError, ValueError, OSError) as err:
        raise RunError(f"run folder {path} is unusable: {err}") from None
    return Run(path, cfg, task, model.to(device).eval())
