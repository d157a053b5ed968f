"""masked_softmax: reference values, properties over random shapes/masks/scores, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from attnkit.functional import masked_softmax

from . import strategies

F64 = torch.float64
PROPS = settings(max_examples=50, deadline=None)


@st.composite
def scores_and_mask(draw, magnitude: float = 1e4):
    """Scores (..., Tq, Tk) with values up to ±magnitude and a bool mask that broadcasts to them
    (some dims of size 1), often with fully-masked rows."""
    return draw(strategies.scores_and_mask(strategies.finite(magnitude)))


def _reference(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax with masked scores at -inf, computed independently; fully-masked rows -> 0."""
    mask = mask.expand_as(scores)
    out = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return torch.where(mask.any(-1, keepdim=True), out, torch.zeros_like(out))


def test_matches_hand_computed_values():
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=F64)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    e1, e3 = np.exp(1.0), np.exp(3.0)
    expected = torch.tensor([[e1 / (e1 + e3), 0.0, e3 / (e1 + e3)], [0.0, 0.0, 0.0]], dtype=F64)
    torch.testing.assert_close(masked_softmax(scores, mask), expected)


@PROPS
@given(scores_and_mask())
def test_properties_float64(sm):
    scores, mask = sm
    weights = masked_softmax(scores, mask)
    strategies.assert_distribution_rows(weights, scores, mask)
    torch.testing.assert_close(weights, _reference(scores, mask))


@PROPS
@given(scores_and_mask(), st.data())
def test_invariant_to_adding_a_constant_per_row(sm, data):
    scores, mask = sm
    shift = data.draw(arrays(np.float64, (*scores.shape[:-1], 1), elements=st.floats(-1e4, 1e4, allow_nan=False)))
    shifted = masked_softmax(scores + torch.from_numpy(shift), mask)
    torch.testing.assert_close(shifted, masked_softmax(scores, mask), rtol=0, atol=1e-9)


@PROPS
@given(scores_and_mask())
def test_all_true_mask_equals_torch_softmax(sm):
    scores, _ = sm
    expected = torch.softmax(scores, dim=-1)
    all_true = torch.ones(scores.shape, dtype=torch.bool)
    torch.testing.assert_close(masked_softmax(scores, all_true), expected, rtol=0, atol=0)
    torch.testing.assert_close(masked_softmax(scores, None), expected, rtol=0, atol=0)


@PROPS
@given(scores_and_mask())
def test_other_dim_equals_transposed_last_dim(sm):
    scores, mask = sm
    mask = mask.expand_as(scores)
    out = masked_softmax(scores.transpose(-1, -2), mask.transpose(-1, -2), dim=-2)
    torch.testing.assert_close(out.transpose(-1, -2), masked_softmax(scores, mask))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@settings(max_examples=30, deadline=None)
@given(sm=scores_and_mask())
def test_low_precision_no_nan_and_close_to_float64_golden(dtype, sm):
    scores64, mask = sm
    scores = scores64.to(dtype)
    weights = masked_softmax(scores, mask)
    strategies.assert_masked_weights(weights, scores, mask)
    # Error against a float64 golden (from the same rounded scores) stays within a small factor
    # of the error of an eager same-dtype reference (STYLE.md §7a).
    golden = _reference(scores.to(F64), mask)
    ours_err = (weights.to(F64) - golden).abs().max().item() if golden.numel() else 0.0
    eager = _reference(scores, mask)
    ref_err = (eager.to(F64) - golden).abs().max().item() if golden.numel() else 0.0
    assert ours_err <= 2 * ref_err + torch.finfo(dtype).eps


def test_gradient_is_finite_and_zero_at_masked_positions():
    scores = torch.randn(2, 3, 5, dtype=F64, requires_grad=True)
    mask = torch.rand(2, 3, 5) > 0.5
    mask[0, 1] = False  # fully-masked row
    (masked_softmax(scores, mask) * torch.randn(2, 3, 5, dtype=F64)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert (scores.grad[~mask] == 0).all()


def test_gradcheck():
    scores = torch.randn(2, 3, 4, dtype=F64, requires_grad=True)
    mask = torch.tensor([True, True, False, True]).expand(2, 3, 4).clone()
    mask[1, 2] = False
    assert torch.autograd.gradcheck(lambda s: masked_softmax(s, mask), (scores,))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.float32])
def test_non_bool_mask_raises_type_error(dtype):
    with pytest.raises(TypeError, match="torch.bool"):
        masked_softmax(torch.randn(2, 3, 4), torch.ones(2, 3, 4, dtype=dtype))


@pytest.mark.parametrize("mask_shape", [(2, 3, 5), (3, 3, 4), (2, 1, 3, 4), (4, 3)])
def test_non_broadcastable_mask_raises_value_error(mask_shape):
    with pytest.raises(ValueError, match="does not broadcast to scores"):
        masked_softmax(torch.randn(2, 3, 4), torch.ones(mask_shape, dtype=torch.bool))
