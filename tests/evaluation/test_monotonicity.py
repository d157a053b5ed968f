"""Alignment monotonicity: the share of output steps whose attention peak does not move back."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.evaluation import alignment_monotonicity


def one_hot(peaks, tk=6):
    w = torch.zeros(len(peaks), tk)
    w[torch.arange(len(peaks)), torch.tensor(peaks)] = 1.0
    return w


def test_hand_counted_examples():
    assert alignment_monotonicity([one_hot([0, 1, 1, 3])]) == (1.0, 3)  # staying put counts as forwards
    assert alignment_monotonicity([one_hot([0, 2, 1, 3])]) == (2 / 3, 3)
    assert alignment_monotonicity([one_hot([5, 4, 3]), one_hot([0, 1])]) == (1 / 3, 3)
    assert alignment_monotonicity([one_hot([2])]) == (0.0, 0)
    soft = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1]])  # peaks 0, 1, 0
    assert alignment_monotonicity([soft]) == (0.5, 2)
    assert alignment_monotonicity([one_hot([0, 1, 1, 3])], strict=True) == (2 / 3, 3)
    assert alignment_monotonicity([one_hot([4, 4, 4, 4])]) == (1.0, 3)  # a peak that never moves...
    assert alignment_monotonicity([one_hot([4, 4, 4, 4])], strict=True) == (0.0, 3)  # ...never moves forwards
    with pytest.raises(ValueError, match=r"\(To, Tk\)"):
        alignment_monotonicity([torch.rand(2, 3, 4)])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=9), min_size=1, max_size=4))
def test_matches_a_plain_count(peak_lists):
    pairs = sum(len(p) - 1 for p in peak_lists)
    for strict in (False, True):
        forwards = sum((b > a) if strict else (b >= a) for peaks in peak_lists for a, b in zip(peaks, peaks[1:]))
        share, n = alignment_monotonicity([one_hot(p, 8) for p in peak_lists], strict=strict)
        assert n == pairs and share == pytest.approx(forwards / pairs if pairs else 0.0)
