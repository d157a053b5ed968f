"""Checkpoints as safetensors + JSON: model weights, and the trainer state needed to resume.

Nothing here unpickles: tensors live in ``.safetensors`` files, everything else in JSON.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..io import atomic_path, atomic_write_text
from .state_check import check_state

__all__ = [
    "CheckpointError",
    "CheckpointWriteError",
    "save_weights",
    "restore_readable_state",
    "load_weights",
    "save_state",
    "load_state",
    "has_state",
]


_STATE_KEY = "attnkit.trainer_state"  # metadata key of last.safetensors holding the JSON state


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or does not fit the model."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint that could not be written (a full disk, a read-only folder); the file it was to
    replace is intact, since every write is atomic."""


@contextmanager
def _written(path: Path, what: str) -> Iterator[None]:
    """Around the atomic write of `path`: a failing disk is one :class:`CheckpointWriteError`."""
    try:
        yield
    except (OSError, SafetensorError) as err:
        text = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        reason = getattr(err, "strerror", None) or text
        raise CheckpointWriteError(
            f"{path}: could not be written ({reason}); the previous {what} is intact: free some space or make "
            f"{path.parent} writable, then continue with `attnkit train --resume {path.parent}`"
        ) from None


def _state_tensors(model: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """`model`'s state dict as safetensors takes it: contiguous CPU tensors, and a tensor that
    shares memory with an earlier one (tied embeddings: the output layer's weight is the target
    embedding) copied, since safetensors refuses shared storage; loading gives both names the
    same values again."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for k, v in model.state_dict().items():
        t = v.detach().contiguous().cpu()
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        out[prefix + k] = t.clone() if key in seen else t
        seen.add(key)
    return out


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Write `model`'s parameters and buffers to a safetensors file, atomically.

    Raises:
        CheckpointWriteError: when the file cannot be written; the previous one stays as it was.
    """
    tensors = _state_tensors(model)
    with _written(Path(path), "best model"), atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})


def _read(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err})") from None


def _metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as fh:
            return fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err})") from None


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load weights written by :func:`save_weights` into `model` (strict).

    Raises:
        CheckpointError: if the file is missing or corrupt, or its tensors do not fit `model`.
    """
    tensors = _read(Path(path))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{path} does not fit this model: {first}") from None


def save_state(
    run_dir: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    extra: dict[str, Any],
    rng: dict[str, torch.Tensor],
) -> None:
    """Write everything needed to resume training: ``last.safetensors`` + ``trainer_state.json``.

    Each file is replaced atomically (temporary file + rename). The JSON state is also stored in
    the metadata of ``last.safetensors``, and :func:`load_state` reads it from there, so a process
    killed between the two renames still leaves a consistent state (the tensors and the step,
    position and optimiser scalars of the same save); ``trainer_state.json`` is written last, as
    a readable copy and the mark of a resumable run folder.

    Raises:
        CheckpointWriteError: when a file cannot be written (a full disk, a read-only folder);
            the previous state stays whole and resumable.
    """
    run_dir = Path(run_dir)
    tensors = _state_tensors(model, "model.")
    opt = optimizer.state_dict()
    opt_scalars: dict[str, dict[str, Any]] = {}
    for pid, state in opt["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{name}"] = value.detach().contiguous()
            else:
                opt_scalars.setdefault(str(pid), {})[name] = value
    for name, value in rng.items():
        tensors[f"rng.{name}"] = value
    meta = {
        "param_groups": opt["param_groups"],
        "optim_scalars": opt_scalars,
        "scheduler": scheduler.state_dict(),
        "extra": extra,
    }
    last, readable = run_dir / "last.safetensors", run_dir / "trainer_state.json"
    with _written(last, "state"), atomic_path(last) as tmp:
        save_file(tensors, str(tmp), metadata={_STATE_KEY: json.dumps(meta)})
    with _written(readable, "state"):
        atomic_write_text(readable, json.dumps(meta, indent=1))


def load_state(
    run_dir: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore what :func:`save_state` wrote; returns (extra, rng tensors).

    The whole state is checked first (:func:`attnkit.training.state_check.check_state`: the
    trainer's counters, the model's keys and shapes, the optimiser's groups and tensors, the
    schedule, the random states); nothing is loaded when any of it does not fit.

    Raises:
        CheckpointError: if the state files are missing or corrupt, or do not fit the model (one
            line naming the file).
    """
    run_dir = Path(run_dir)
    if not has_state(run_dir):
        raise CheckpointError(f"{run_dir} has no trainer_state.json to resume from")
    path = run_dir / "last.safetensors"
    tensors = _read(path)
    embedded = _metadata(path).get(_STATE_KEY)
    try:
        if embedded is not None:  # the state saved together with these tensors
            meta = json.loads(embedded)
        else:  # written before the state was embedded
            path = run_dir / "trainer_state.json"
            meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir} has no trainer_state.json to resume from") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path}: the trainer state is corrupt ({str(err)[:120]})") from None
    problem = check_state(model, optimizer, scheduler, meta, tensors)
    if problem:
        raise CheckpointError(
            f"{path} cannot be resumed: {problem}; the run folder is unchanged "
            "(start a new run, or train again with --overwrite)"
        )
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    except RuntimeError as err:  # weights missing (the rest was checked above)
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0] if lines else "")[:160]
        raise CheckpointError(
            f"{path} cannot be resumed: it holds another model's weights ({detail}); the run folder is unchanged "
            "(start a new run, or train again with --overwrite)"
        ) from None
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, scalars in meta["optim_scalars"].items():
        state.setdefault(int(pid), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    scheduler.load_state_dict(meta["scheduler"])
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
    return meta["extra"], rng


def has_state(run_dir: str | Path) -> bool:
    """Whether `run_dir` holds a saved trainer state (it has checkpointed at least once)."""
    run_dir = Path(run_dir)
    return (run_dir / "trainer_state.json").is_file() or (run_dir / "last.safetensors").is_file()


def restore_readable_state(run_dir: str | Path) -> bool:
    """Rewrite ``trainer_state.json`` from the state embedded in ``last.safetensors`` when it is
    missing or differs (a kill between the two renames of :func:`save_state`), so that the
    readable copy describes the resumable state again; True when it was rewritten.

    Raises:
        CheckpointError: if ``last.safetensors`` is unreadable.
    """
    run_dir = Path(run_dir)
    embedded = _metadata(run_dir / "last.safetensors").get(_STATE_KEY)
    if embedded is None:  # written before the state was embedded: trainer_state.json is the state
        return False
    text = json.dumps(json.loads(embedded), indent=1)
    readable = run_dir / "trainer_state.json"
    try:
        if readable.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    with _written(readable, "state"):
        atomic_write_text(readable, text)
    return True
