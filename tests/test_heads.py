"""Choosing one attention map from per-head weights: a head by index or the mean, on tensors and
arrays, with clear errors."""

import numpy as np
import pytest
import torch

from attnkit.heads import parse_heads, select_heads


def _per_head(shape=(2, 3, 4, 5)):  # (B, Nh, To, Tk), rows sum to 1
    return torch.softmax(torch.randn(*shape, dtype=torch.float64), -1)


def test_a_head_is_that_head_and_the_mean_is_the_average_of_the_heads():
    w = _per_head()
    b_, nh, to, tk = w.shape
    expected_mean = torch.zeros(b_, to, tk, dtype=torch.float64)
    for b in range(b_):
        for t in range(to):
            for j in range(tk):
                expected_mean[b, t, j] = sum(float(w[b, h, t, j]) for h in range(nh)) / nh
    torch.testing.assert_close(select_heads(w, "mean"), expected_mean)
    torch.testing.assert_close(select_heads(w, "mean").sum(-1), torch.ones(b_, to, dtype=torch.float64))
    for h in range(nh):
        torch.testing.assert_close(select_heads(w, h), w[:, h])
        torch.testing.assert_close(select_heads(w[0], h), w[0, h])  # one hypothesis (Nh, To, Tk)


def test_numpy_arrays_work_the_same():
    w = _per_head((3, 4, 5))
    np.testing.assert_allclose(select_heads(w.numpy(), "mean"), select_heads(w, "mean").numpy())
    np.testing.assert_array_equal(select_heads(w.numpy(), 2), w[2].numpy())


def test_single_head_weights_are_one_head():
    w = _per_head((4, 5))  # (To, Tk) of an RNN model
    assert select_heads(w, "mean") is w and select_heads(w, 0) is w
    with pytest.raises(ValueError, match="single-head weights have only head 0"):
        select_heads(w, 1)


@pytest.mark.parametrize(
    "heads, error, message",
    [
        (3, ValueError, r"head 3 is out of range: these weights have 3 heads .*0\.\.2"),
        (-1, ValueError, "head -1 is out of range"),
        ("max", ValueError, "heads must be 'mean' or a head index 0..2"),
        (1.0, TypeError, "got float"),
        (True, TypeError, "got bool"),
    ],
)
def test_bad_choices_are_clear_errors(heads, error, message):
    with pytest.raises(error, match=message):
        select_heads(_per_head((3, 4, 5)), heads)


def test_weights_need_two_dimensions():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        select_heads(torch.ones(3), "mean")


def test_parse_heads():
    assert parse_heads("mean") == "mean" and parse_heads(" 2 ") == 2 and parse_heads("0") == 0
    for bad in ("-1", "first", "1.5", ""):
        with pytest.raises(ValueError, match="heads must be 'mean' or a head index"):
            parse_heads(bad)
