"""Exact match and alignment accuracy, against hand-computed cases."""

import pytest
import torch

from attnkit.evaluation import alignment_accuracy, exact_match
from attnkit.evaluation.metrics import zero_share


def test_exact_match():
    assert exact_match(["a", "b", "c", "d"], ["a", "x", "c", "d"]) == 0.75
    with pytest.raises(ValueError):
        exact_match(["a"], [])


def test_alignment_accuracy_counts_argmax_inside_span():
    w = torch.tensor([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])  # argmax 1, then 0
    acc, n = alignment_accuracy([w], [[(0, 1, 3), (1, 1, 3), (5, 0, 3)]])
    assert n == 3 and acc == pytest.approx(1 / 3)  # hit, miss, out-of-range output position
    with pytest.raises(ValueError, match="needs attention weights"):
        alignment_accuracy([None], [[(0, 0, 1)]])


def test_zero_share():
    assert zero_share([torch.tensor([[0.0, 1.0], [0.5, 0.5]]), torch.tensor([[0.0, 0.0, 1.0]])]) == 3 / 7
    assert zero_share([]) == 0.0


def test_alignment_accuracy_of_per_head_weights_scores_the_named_map():
    w = torch.tensor(
        [
            [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]],  # head 0: argmax 1, then 0
            [[0.0, 0.1, 0.9], [0.0, 0.3, 0.7]],
        ]
    )  # head 1: argmax 2, then 2
    gold = [[(0, 2, 3), (1, 2, 3)]]  # both output positions should look at source position 2
    assert alignment_accuracy([w], gold, heads=0) == (0.0, 2)
    assert alignment_accuracy([w], gold, heads=1) == (1.0, 2)
    # mean of heads: [0.05, 0.45, 0.5] (argmax 2, hit) and [0.35, 0.25, 0.4] (argmax 2, hit)
    assert alignment_accuracy([w], gold) == alignment_accuracy([w], gold, heads="mean") == (1.0, 2)
    with pytest.raises(ValueError, match="head 2 is out of range"):
        alignment_accuracy([w], gold, heads=2)
