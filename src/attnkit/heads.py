"""Choosing one map from per-head attention weights: a head by index, or the mean of the heads.

Multi-head models return their weights per head, (..., Nh, To, Tk) (DESIGN.md: weights are never
silently averaged over heads). A caller that needs one map per hypothesis, such as alignment
accuracy or an alignment heatmap, names its choice with :func:`select_heads`.

The helper works on torch tensors and numpy arrays alike and imports neither, so that
:mod:`attnkit.viz` (numpy and matplotlib only) and :mod:`attnkit.evaluation` share it.
"""

from __future__ import annotations

from typing import Any, Union

__all__ = ["select_heads", "HeadChoice", "parse_heads"]

HeadChoice = Union[str, int]  # "mean", or a head index 0..Nh-1


def select_heads(weights: Any, heads: HeadChoice) -> Any:
    """One attention map from per-head weights: head `heads`, or the mean over heads.

    Args:
        weights: a torch tensor or numpy array of attention weights (probabilities in [0, 1]):
            (..., Nh, To, Tk) per head, heads in dim -3, e.g. a Transformer hypothesis'
            (Nh, To, Tk) or a batch (B, Nh, Tq, Tk); or (To, Tk) from a single-head model, read
            as one head (so ``"mean"`` and ``0`` return it unchanged).
        heads: ``"mean"`` for the mean over the Nh heads (rows still sum to 1), or an int head
            index in [0, Nh).

    Returns:
        The chosen map, (..., To, Tk), of the same kind (tensor or array) as `weights`.

    Raises:
        ValueError: if `weights` has fewer than 2 dimensions, `heads` is an int outside [0, Nh),
            or a string other than ``"mean"``.
        TypeError: if `heads` is neither a string nor an int.
    """
    if weights.ndim < 2:
        raise ValueError(f"attention weights need at least 2 dimensions (To, Tk), got shape {tuple(weights.shape)}")
    single = weights.ndim == 2
    n_heads = 1 if single else weights.shape[-3]
    if isinstance(heads, str):
        if heads != "mean":
            raise ValueError(f"heads must be 'mean' or a head index 0..{n_heads - 1}, got {heads!r}")
        return weights if single else weights.mean(-3)  # numpy: axis, torch: dim
    if isinstance(heads, bool) or not isinstance(heads, int):
        raise TypeError(f"heads must be 'mean' or an int head index, got {type(heads).__name__} {heads!r}")
    if not 0 <= heads < n_heads:
        kind = "single-head weights have only head 0" if single else f"these weights have {n_heads} heads"
        raise ValueError(
            f"head {heads} is out of range: {kind} (shape {tuple(weights.shape)}); "
            f"pass a head index 0..{n_heads - 1} or 'mean'"
        )
    return weights if single else weights[..., heads, :, :]


def parse_heads(text: str) -> HeadChoice:
    """A head choice from text (a command-line value): ``"mean"`` or a non-negative integer.

    Raises:
        ValueError: for anything else.
    """
    text = text.strip()
    if text == "mean":
        return "mean"
    if text.isdigit():
        return int(text)
    raise ValueError(f"heads must be 'mean' or a head index (0, 1, ...), got {text!r}")
