"""Data-parallel training under ``torchrun``: one process per rank, one global batch per step.

Launch the ordinary ``attnkit train`` command with ``torchrun``; nothing else changes::

    torchrun --nproc_per_node=2 -m attnkit.cli train configs/dates-bahdanau.yaml --out runs/ddp
    torchrun --nproc_per_node=2 -m attnkit.cli train --resume runs/ddp

(or ``python -m torch.distributed.run --standalone --nproc_per_node=2 -m attnkit.cli train ...``).
``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`distributed_session` reads
them, starts ``torch.distributed`` (gloo for CPU tensors; with CUDA, NCCL for CUDA tensors and
gloo for CPU ones) and ends it when training ends. Without those variables it is a no-op and
training runs in one process as before.

**The batch is global.** ``train.batch_size`` / ``train.batch_tokens`` size the batch of one
optimiser step over *all* ranks, so a run with N ranks follows the same trajectory as a run with
one. Every rank draws the same global batch from the same seeded order (the position in the data
is therefore the same on every rank, and a run can be resumed with another number of ranks) and
keeps its share, every N-th example from its rank (:func:`attnkit.data.split_batch`).

**Loss and gradients.** One process minimises (sum of token losses) / (real target tokens of
the global batch). Rank r computes (sum of its token losses) / (real target tokens of the
*global* batch), which every rank knows from the global batch; the gradients are then summed
over the ranks (:func:`all_reduce_gradients`, one ``all_reduce`` with ``SUM``), which gives the
single-process gradient up to floating-point summation order. Clipping, Adam and the schedule
then act on identical gradients on every rank, so the parameters stay identical without being
sent again. A rank whose share is empty (a global batch with fewer examples than ranks)
contributes zero gradients and still joins the ``all_reduce``.

**Who writes.** Only rank 0 builds the run folder (config, data, vocabularies); the other ranks
wait for it and then load the task from the folder. Only rank 0 validates and writes
checkpoints, ``metrics.jsonl``, the best model and the progress bar; it sends each validation
record to the others, so the early-stopping decision is the same everywhere. A stop signal
(SIGINT/SIGTERM) or the wall-clock budget on any rank stops every rank at the same step.

**Not identical to one process:** dropout masks and sampled attention (REINFORCE, Gumbel) are
drawn per rank from its own generator (seeded ``seed + rank``), so with dropout > 0 the
trajectory matches one process only in distribution; the REINFORCE reward baseline is a moving
average over each rank's own sub-batches. Both are saved per rank and restored on resume with
the same number of ranks.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistContext",
    "distributed_session",
    "current",
    "barrier",
    "broadcast_json",
    "all_reduce_gradients",
    "all_gather_tensor",
    "broadcast_module",
    "check_same",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among `world_size` processes (1 = not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files."""
        return self.rank == 0


def current() -> DistContext:
    """The context of the initialised default process group, or a single process without one."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistContext()


@contextmanager
def distributed_session() -> Iterator[DistContext]:
    """Start ``torch.distributed`` from the ``torchrun`` environment; end it on exit.

    With ``WORLD_SIZE`` unset or 1, or a process group already started by the caller, nothing is
    started or ended and the current context is yielded.

    Raises:
        RuntimeError: if ``WORLD_SIZE`` > 1 but ``RANK`` is missing (not launched by torchrun).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        yield current()
        return
    if "RANK" not in os.environ:
        raise RuntimeError(
            "WORLD_SIZE > 1 but RANK is not set; launch with `torchrun --nproc_per_node=N -m attnkit.cli train ...`"
        )
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        backend = "cpu:gloo,cuda:nccl"  # CPU tensors over gloo, CUDA tensors over NCCL
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    ctx = current()
    log.debug("rank %d of %d started (%s)", ctx.rank, ctx.world_size, backend)
    try:
        yield ctx
        # every rank reaches the end before the group goes: a rank still finishing a collective when
        # another tears the group down aborts in gloo ("terminate called without an active exception")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait until every rank arrives here (no-op in one process)."""
    if ctx.enabled:
        dist.barrier()


def broadcast_json(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's `obj` (anything ``json`` can write) on every rank; the others' `obj` is ignored.

    JSON instead of pickle, so nothing received is unpickled.
    """
    if not ctx.enabled:
        return obj
    data = json.dumps(obj).encode("utf-8") if ctx.is_main else b""
    size = torch.tensor([len(data)], dtype=torch.long)
    dist.broadcast(size, src=0)
    buf = (
        torch.frombuffer(bytearray(data), dtype=torch.uint8)
        if ctx.is_main
        else torch.empty(int(size), dtype=torch.uint8)
    )
    dist.broadcast(buf, src=0)
    return obj if ctx.is_main else json.loads(buf.numpy().tobytes().decode("utf-8"))


def all_gather_tensor(tensor: torch.Tensor, ctx: DistContext) -> list[torch.Tensor]:
    """`tensor` of every rank, in rank order (same shape and dtype on every rank)."""
    if not ctx.enabled:
        return [tensor]
    out = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
    dist.all_gather(out, tensor.contiguous())
    return out


def check_same(values: Sequence[float], what: str, ctx: DistContext) -> None:
    """Raise if `values` (e.g. a checksum of the training data) differ between ranks.

    Raises:
        RuntimeError: naming `what`, when any rank disagrees with rank 0.
    """
    if not ctx.enabled:
        return
    mine = torch.tensor(list(values), dtype=torch.float64)
    gathered = all_gather_tensor(mine, ctx)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(
            f"{what} differs between ranks ({[g.tolist() for g in gathered]}); every rank must see the same run folder"
        )


def broadcast_module(module: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every rank, in place."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def all_reduce_gradients(params: Iterable[nn.Parameter], extras: Sequence[float], ctx: DistContext) -> list[float]:
    """Sum the gradients of `params` over the ranks, in place; also sum `extras`.

    A parameter without a gradient (unused in this rank's forward, or an empty sub-batch) counts
    as zeros and receives the summed gradient. Gradients of one dtype travel in one flat buffer
    (one ``all_reduce`` per dtype), `extras` in float64 in one more.

    Args:
        params: the parameters, in the same order on every rank; those without
            ``requires_grad`` are skipped.
        extras: numbers to sum alongside (e.g. the rank's share of the loss, stop flags).

    Returns:
        The summed `extras`.
    """
    params = [p for p in params if p.requires_grad]
    groups: dict[torch.dtype, list[torch.Tensor]] = {}  # the gradients, by dtype
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        groups.setdefault(p.grad.dtype, []).append(p.grad)
    for group in groups.values():
        flat = torch.cat([grad.reshape(-1) for grad in group])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for grad in group:
            n = grad.numel()
            grad.copy_(flat[offset : offset + n].view_as(grad))
            offset += n
    extra = torch.tensor(list(extras), dtype=torch.float64)
    dist.all_reduce(extra, op=dist.ReduceOp.SUM)
    return extra.tolist()
