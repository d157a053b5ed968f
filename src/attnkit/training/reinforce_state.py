"""The REINFORCE reward baselines across ranks and resumes.

A model that samples hard attention owns its REINFORCE loss
(:class:`~attnkit.models.reinforce.ReinforceLoss`), whose moving-average reward baseline is a
buffer of the model: rank 0's is saved with the weights (``model.safetensors``,
``last.safetensors``) and restored with them. The baseline is rank-local (each rank averages the
rewards of its own share of the batches), so the trainer state also keeps every rank's
(``rank_baselines``), and a resumed rank > 0 takes its own back after rank 0's weights were
broadcast. Trainer states written when the baseline lived there (``baseline``, with a checkpoint
without the buffer) still resume: the old value fills the unset buffer.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..models.reinforce import ReinforceLoss
from . import distributed

__all__ = ["reinforce_losses", "gather_baselines", "restore_baselines"]


def reinforce_losses(model: nn.Module) -> list[ReinforceLoss]:
    """The REINFORCE losses the model owns (none for a model without sampled attention)."""
    return [m for m in model.modules() if isinstance(m, ReinforceLoss)]


def gather_baselines(model: nn.Module, dist: distributed.DistContext) -> list[list[float | None]]:
    """Every rank's baselines, one list per rank (None: no batch yet); a collective under
    ``torch.distributed`` (every rank holds the same model, so all or none of them gather)."""
    losses = reinforce_losses(model)
    if not losses:
        return []
    mine = torch.stack([m.baseline.detach().cpu().double() for m in losses])  # NaN: no batch yet
    gathered = distributed.all_gather_tensor(mine, dist)
    return [[None if math.isnan(b) else b for b in rank.tolist()] for rank in gathered]


def restore_baselines(model: nn.Module, extra: dict[str, Any], rank: int) -> None:
    """After the model was loaded (and broadcast): this rank's baselines from the trainer state
    `extra`. Rank 0 keeps those of the model's state, except where the checkpoint predates the
    buffer and the old state holds ``extra["baseline"]``; rank r > 0 takes
    ``extra["rank_baselines"][r]`` (one number per rank in older states)."""
    losses = reinforce_losses(model)
    if not losses:
        return
    if rank == 0:
        old = extra.get("baseline")
        for loss in losses:
            if old is not None and loss.baseline_value is None:
                loss.set_baseline(old)
        return
    per_rank = extra.get("rank_baselines") or []
    values = per_rank[rank] if rank < len(per_rank) else None
    if not isinstance(values, list):  # older states: one number (or None) per rank
        values = [values] * len(losses)
    for loss, value in zip(losses, values):
        loss.set_baseline(value)
