"""Selecting batch rows of decoder states and encoder memories (to expand or reorder beams)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

__all__ = ["select_rows"]


def select_rows(obj: Any, index: Tensor) -> Any:
    """Index every tensor in `obj` (tensors, tuples, NamedTuples, None, ints) along dim 0."""
    if isinstance(obj, Tensor):
        return obj.index_select(0, index)
    if isinstance(obj, tuple):
        items = [select_rows(x, index) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj  # None, ints (e.g. a decoded-position counter)
