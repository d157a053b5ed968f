"""Fusion: the weighted sum of values that gives the context vector (the third stage)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["weighted_sum"]


def weighted_sum(weights: Tensor, values: Tensor) -> Tensor:
    """Context vectors c_i = sum_j alpha_ij v_j [Bahdanau15] Eq. 5.

    Args:
        weights: alignment weights, (..., Tq, Tk).
        values: values (annotations), (..., Tk, Dv); leading dims broadcast against `weights`.

    Returns:
        Context vectors (..., Tq, Dv).

    Raises:
        ValueError: if the Tk of `weights` and `values` differ.
    """
    if weights.shape[-1] != values.shape[-2]:
        raise ValueError(f"weights cover Tk={weights.shape[-1]} keys but values have Tk={values.shape[-2]}")
    return weights @ values
