"""Layer 6 (docs/architecture.md): the training loop, checkpoints and run folders."""

from .checkpoint import CheckpointError, load_weights, save_weights
from .run import Run, RunError, build_model, load_run
from .trainer import Trainer, TrainResult

__all__ = [
    "Trainer",
    "TrainResult",
    "CheckpointError",
    "save_weights",
    "load_weights",
    "Run",
    "RunError",
    "build_model",
    "load_run",
]
