"""Checks of a saved trainer state against the model and optimiser it is about to be loaded into.

:func:`attnkit.training.checkpoint.load_state` runs them all before it loads anything, and the
trainer touches nothing in the run folder before :func:`~attnkit.training.checkpoint.load_state`
returns; so a tampered state, or ``last.safetensors`` of another model, is one error naming the
file and changes nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..schema import short_repr

__all__ = ["check_state", "FINISHED"]

#: why a finished run ended (``extra["finished"]``); "" while it is not finished
FINISHED = ("", "patience", "best possible value", "max_minutes", "max_steps")

_COUNTS = ("step", "epoch", "index", "best_step", "bad")


class _Invalid(ValueError):
    """One problem of the state, said in a few words; load_state adds the file and the fix."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _like(saved: Any, current: Any) -> bool:
    """Whether `saved` (read from JSON) has the type and shape of `current` (the live value)."""
    if isinstance(current, bool) or current is None:  # a switch: True, False or None (the default)
        return saved is None or isinstance(saved, bool)
    if _is_number(current):
        return _is_number(saved) and math.isfinite(saved)
    if isinstance(current, (list, tuple)):
        return (
            isinstance(saved, list) and len(saved) == len(current) and all(_like(a, b) for a, b in zip(saved, current))
        )
    if isinstance(current, str):
        return isinstance(saved, str)
    return True  # a callable or other object state_dict leaves as is: not compared


def _check_extra(extra: Any) -> None:
    if not isinstance(extra, dict):
        raise _Invalid("the trainer state is not a mapping")
    for key in _COUNTS:
        if not _is_int(extra.get(key)) or extra[key] < 0:
            raise _Invalid(f"{key} must be a whole number >= 0, got {short_repr(extra.get(key))}")
    if extra["best_step"] > extra["step"]:
        raise _Invalid(f"best_step {extra['best_step']} is after step {extra['step']}")
    for key in ("best", "seconds"):
        if not _is_number(extra.get(key)):
            raise _Invalid(f"{key} must be a number, got {short_repr(extra.get(key))}")
    if not math.isfinite(extra["seconds"]) or extra["seconds"] < 0:
        raise _Invalid(f"seconds must be finite and >= 0, got {short_repr(extra['seconds'])}")
    if "best_tie" in extra and not _is_number(extra["best_tie"]):
        raise _Invalid(f"best_tie must be a number, got {short_repr(extra['best_tie'])}")
    if extra.get("finished", "") not in FINISHED:
        raise _Invalid(f"finished must be one of {FINISHED}, got {short_repr(extra['finished'])}")
    history = extra.get("history")
    if not isinstance(history, list) or not all(
        isinstance(r, dict) and _is_int(r.get("step")) and _is_number(r.get("score")) for r in history
    ):
        raise _Invalid("history must be a list of validation records, each with a step and a score")


def _check_tensors(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    saved = {k[6:]: tuple(v.shape) for k, v in tensors.items() if k.startswith("model.")}
    # missing weights are left to the model's strict loading: a module may fill in one that older
    # checkpoints lack (a REINFORCE baseline)
    unexpected = sorted(saved.keys() - expected.keys())
    wrong = [k for k in sorted(expected.keys() & saved.keys()) if expected[k] != saved[k]]
    if unexpected or wrong:
        parts = []
        if unexpected:
            parts.append(f"{len(unexpected)} weights this model lacks (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of other shapes (e.g. {k}: {saved[k]}, this model {expected[k]})")
        raise _Invalid(f"it holds another model's weights: {'; '.join(parts)}")
    for key, value in tensors.items():
        if not key.startswith(("model.", "optim.", "rng.")):
            raise _Invalid(f"unknown tensor {key[:60]!r}")


def _check_optimizer(optimizer: torch.optim.Optimizer, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    groups = meta.get("param_groups")
    current = optimizer.state_dict()["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(current):
        raise _Invalid(f"param_groups must be a list of {len(current)} optimiser groups")
    params: list[torch.Tensor] = []
    for saved, now, live in zip(groups, current, optimizer.param_groups):
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), list):
            raise _Invalid("an optimiser group is not a mapping with params")
        if len(saved["params"]) != len(now["params"]):
            raise _Invalid(
                f"an optimiser group holds {len(saved['params'])} parameters, this model's {len(now['params'])}"
            )
        for key, value in now.items():
            required = _is_number(value) or isinstance(value, (list, tuple))  # lr, betas, eps, ...
            if key != "params" and (key in saved or required) and not _like(saved.get(key), value):
                raise _Invalid(
                    f"optimiser setting {key} is {short_repr(saved.get(key))}, expected like {short_repr(value)}"
                )
        params.extend(live["params"])
    scalars = meta.get("optim_scalars")
    if not isinstance(scalars, dict):
        raise _Invalid("optim_scalars must be a mapping")
    for pid in scalars:
        if not str(pid).isdigit() or int(pid) >= len(params) or not isinstance(scalars[pid], dict):
            raise _Invalid(f"optim_scalars names parameter {short_repr(pid)}, which this model lacks")
    for key, value in tensors.items():
        if not key.startswith("optim."):
            continue
        parts = key.split(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) >= len(params):
            raise _Invalid(f"optimiser tensor {key[:60]!r} names no parameter of this model")
        param = params[int(parts[1])]
        if value.dim() > 0 and (value.shape != param.shape or not value.is_floating_point()):
            raise _Invalid(f"optimiser tensor {key} has shape {tuple(value.shape)}, its parameter {tuple(param.shape)}")


def _check_scheduler(scheduler: Any, saved: Any, step: int) -> None:
    current = scheduler.state_dict()
    if not isinstance(saved, dict) or not {"last_epoch", "base_lrs"} <= saved.keys():
        raise _Invalid("the learning-rate schedule's state is incomplete")
    for key, value in current.items():  # keys of another torch version are left to torch
        if key != "lr_lambdas" and key in saved and not _like(saved[key], value):
            raise _Invalid(f"schedule setting {key} is {short_repr(saved[key])}, expected like {short_repr(value)}")
    if saved["last_epoch"] != step:
        raise _Invalid(f"the schedule is at step {short_repr(saved['last_epoch'])}, the trainer at step {step}")


def _check_rng(tensors: dict[str, torch.Tensor]) -> None:
    size = torch.get_rng_state().shape
    for key, value in tensors.items():
        if key.startswith("rng.") and (
            value.dtype != torch.uint8 or value.dim() != 1 or (key.startswith("rng.torch") and value.shape != size)
        ):
            raise _Invalid(f"random state {key[:60]} is not a generator state")


def check_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, meta: Any, tensors: dict[str, torch.Tensor]
) -> str | None:
    """What is wrong with the state `meta` + `tensors` for `model`, `optimizer` and `scheduler`
    (a few words), or None when it fits: the trainer's counters (whole numbers >= 0), numbers,
    the stop decision, the history, the model's weights (every key, no other, the same shapes),
    the optimiser's groups, settings and per-parameter tensors, the schedule and the random
    states."""
    try:
        if not isinstance(meta, dict):
            raise _Invalid("the state is not a mapping")
        _check_extra(meta.get("extra"))
        _check_tensors(model, tensors)
        _check_optimizer(optimizer, meta, tensors)
        _check_scheduler(scheduler, meta.get("scheduler"), meta["extra"]["step"])
        _check_rng(tensors)
    except _Invalid as err:
        return str(err)
    return None
