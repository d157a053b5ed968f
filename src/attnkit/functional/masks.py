"""Boolean attention masks. Convention everywhere in attnkit: ``True`` means "may attend".

One meaning per rank, everywhere (functions, modules, models), for scores (B, [Nh,] Tq, Tk);
the first dimension of a mask of two or more dimensions is always the batch:

- (Tk,): keys every query of every example may attend;
- (B, Tk): a padding mask, per example, shared by all heads and queries (:func:`padding_mask`);
- (B|1, Tq|1, Tk): per example and query, shared by all heads;
- (B|1, Nh|1, Tq|1, Tk): the full form.

:func:`as_scores_mask` is the one adapter that turns these into a mask of the scores' rank.
A causal mask (:func:`causal_mask`) is (Tq, Tk); pass it as ``causal_mask(Tq, Tk)[None]`` (or
use the ``is_causal`` / ``causal`` options), since a 2-D mask is a padding mask.
"""

from __future__ import annotations

from typing import overload

import torch
from torch import Tensor

__all__ = ["padding_mask", "causal_mask", "expand_padding_mask", "check_mask", "broadcast_shape", "as_scores_mask"]


def padding_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Mask of real (non-padding) positions from sequence lengths.

    Args:
        lengths: number of real tokens per sequence, (B,), integer dtype, each in [0, max_len].
        max_len: padded length Tk. Defaults to ``lengths.max()``.

    Returns:
        Boolean mask (B, Tk); ``True`` at positions ``j < lengths[b]`` (may attend).

    Raises:
        ValueError: if `lengths` is not 1-D integer, is negative, or exceeds `max_len` (the last
            two are checked eagerly only: while ``torch.export`` or TorchScript traces the call,
            as for an ONNX export, the values are unknown and `max_len` must be given).
    """
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(
            f"lengths must be a 1-D integer tensor (B,), got dtype {lengths.dtype} and shape {tuple(lengths.shape)}"
        )
    tracing = torch.compiler.is_exporting() or torch.jit.is_tracing()  # an exporter cannot read the values
    if max_len is None or not tracing:
        if lengths.numel() and int(lengths.min()) < 0:
            raise ValueError("lengths must be non-negative")
        longest = int(lengths.max()) if lengths.numel() else 0
        if max_len is None:
            max_len = longest
        elif longest > max_len:
            raise ValueError(f"a length of {longest} exceeds max_len={max_len}; raise max_len")
    positions = torch.arange(max_len, device=lengths.device)  # (Tk,)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, Tk)


def causal_mask(tq: int, tk: int | None = None, *, device: torch.device | None = None) -> Tensor:
    """Lower-triangular mask: query i may attend to keys j <= i + (Tk - Tq).

    When Tk > Tq (a KV cache holding Tk - Tq earlier positions), the queries are the last Tq
    positions of the key sequence.

    Args:
        tq: number of queries Tq.
        tk: number of keys Tk (default Tq); must be >= Tq.
        device: device of the result.

    Returns:
        Boolean mask (Tq, Tk), ``True`` = may attend.

    Raises:
        ValueError: if ``tk < tq``.
    """
    tk = tq if tk is None else tk
    if tk < tq:
        raise ValueError(f"causal mask needs at least as many keys as queries, got Tq={tq}, Tk={tk}")
    return torch.ones(tq, tk, dtype=torch.bool, device=device).tril(diagonal=tk - tq)


def expand_padding_mask(mask: Tensor) -> Tensor:
    """View a (B, Tk) padding mask as (B, 1, Tk) so it broadcasts over queries Tq."""
    return mask.unsqueeze(-2)


@overload
def as_scores_mask(mask: Tensor, scores_shape: torch.Size | tuple[int, ...]) -> Tensor: ...


@overload
def as_scores_mask(mask: None, scores_shape: torch.Size | tuple[int, ...]) -> None: ...


@overload
def as_scores_mask(mask: Tensor | None, scores_shape: torch.Size | tuple[int, ...]) -> Tensor | None: ...


def as_scores_mask(mask: Tensor | None, scores_shape: torch.Size | tuple[int, ...]) -> Tensor | None:
    """`mask` viewed with the rank of the scores, by the module docstring's meaning per rank.

    A mask of rank r >= 2 below the scores' rank R gets R - r singleton dimensions right after
    its batch dimension: (B, Tk) -> (B, 1, [1,] Tk), (B, Tq, Tk) -> (B, 1, Tq, Tk). A (Tk,) mask
    and a mask of the scores' rank are returned as they are. Scores without a batch dimension
    (Tq, Tk) take (Tk,) or (Tq, Tk) masks.

    Args:
        mask: boolean, ``True`` = may attend; None passes through.
        scores_shape: shape of the scores, (B, [Nh,] Tq, Tk) or (Tq, Tk).

    Returns:
        A view of `mask` that broadcasts to `scores_shape`, or None.

    Raises:
        TypeError: if `mask` is not ``torch.bool``.
        ValueError: if `mask` has more dimensions than the scores or does not fit them (a
            (Tq, Tk) causal mask given as a 2-D mask is refused this way unless Tq equals B).
    """
    if mask is None:
        return None
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be torch.bool with True = may attend, got {mask.dtype}; "
            "convert with `mask.bool()` (or `~mask` if yours marks padding)"
        )
    rank, target, given = mask.dim(), len(scores_shape), tuple(mask.shape)
    if 2 <= rank < target:
        mask = mask.reshape(mask.shape[0], *([1] * (target - rank)), *mask.shape[1:])
    if rank > target or broadcast_shape(mask.shape, scores_shape) != tuple(scores_shape):
        raise ValueError(
            f"mask of shape {given} does not broadcast to scores {tuple(scores_shape)}; pass (B, Tk) for "
            "padding, (B|1, Tq, Tk) per query (a causal mask: causal_mask(Tq, Tk)[None]), or the scores' rank"
        )
    return mask


def broadcast_shape(*shapes) -> tuple[int, ...] | None:
    """The shape `shapes` broadcast to under PyTorch's rules, or None if they do not broadcast.

    The same answer as :func:`torch.broadcast_shapes`, in plain Python: that function goes
    through tensor-reference code costing ~0.15 ms a call, which adds up at every decoder step.
    """
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for shape in shapes:
        for i, n in enumerate(shape, start=ndim - len(shape)):
            if n != 1:
                if out[i] not in (1, n):
                    return None
                out[i] = n
    return tuple(out)


def check_mask(mask: Tensor, scores_shape: torch.Size | tuple[int, ...]) -> None:
    """Validate that `mask` is boolean and broadcasts to `scores_shape`.

    Args:
        mask: boolean mask, any shape that broadcasts to the scores, e.g. (B, 1, Tk), (Tq, Tk).
        scores_shape: shape of the scores, (B, [Nh,] Tq, Tk).

    Raises:
        TypeError: if `mask` is not ``torch.bool``.
        ValueError: if `mask` does not broadcast to `scores_shape`.
    """
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be torch.bool with True = may attend, got {mask.dtype}; "
            "convert with `mask.bool()` (or `~mask` if yours marks padding)"
        )
    if broadcast_shape(mask.shape, scores_shape) != tuple(scores_shape):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to scores "
            f"{tuple(scores_shape)}; pass (B, 1, Tk) for padding or (Tq, Tk) for causal masking"
        )
