"""Hypothesis strategies shared by the normaliser tests."""

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def finite(magnitude: float) -> st.SearchStrategy[float]:
    """Finite floats in [-magnitude, magnitude]."""
    return st.floats(-magnitude, magnitude, allow_nan=False, allow_infinity=False)


@st.composite
def scores_and_mask(draw, elements: st.SearchStrategy[float]):
    """Scores (..., Tq, Tk) drawn from `elements` and a bool mask that broadcasts to them (some
    dims of size 1), often with a fully-masked row."""
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    tq, tk = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    shape = (*lead, tq, tk)
    scores = draw(arrays(np.float64, shape, elements=elements))
    mask_shape = tuple(d if draw(st.booleans()) else 1 for d in shape[:-1]) + (tk,)
    mask = draw(arrays(np.bool_, mask_shape))
    if draw(st.booleans()):
        mask[..., 0, :] = False  # at least one fully-masked row
    return torch.from_numpy(scores), torch.from_numpy(mask)
