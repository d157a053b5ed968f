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


def assert_masked_weights(weights: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Properties every masked normaliser has in any dtype: the dtype of `scores`, no NaN or inf,
    weights >= 0, exactly 0 at masked positions and on fully-masked rows. Returns the mask
    broadcast to the scores' shape."""
    full_mask = mask.expand_as(scores)
    assert weights.dtype == scores.dtype
    assert not weights.isnan().any() and not weights.isinf().any()
    assert (weights >= 0).all()
    assert (weights[~full_mask] == 0).all()  # exactly 0, not merely small
    assert (weights[~full_mask.any(-1)] == 0).all()
    return full_mask


def assert_distribution_rows(weights: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:func:`assert_masked_weights`, plus: the shape of `scores`, weights <= 1, and each row sums
    to 1 when it has an allowed position (else 0). Returns the broadcast mask."""
    full_mask = assert_masked_weights(weights, scores, mask)
    assert weights.shape == scores.shape
    # <= 1 up to a few ulps: entmax-1.5's threshold search can leave a one-hot row at 1 + 2 ulps
    # (scores [0, -2, -2, -2, -2] in float64 give 1.0000000000000004), as the row sums are checked
    assert (weights <= 1 + 8 * torch.finfo(weights.dtype).eps).all()
    torch.testing.assert_close(weights.sum(-1), full_mask.any(-1).to(weights.dtype))
    return full_mask
