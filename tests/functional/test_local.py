"""local_window_mask and gaussian_weights [Luong15] Sec. 3.2, Eq. 10 against formulas in Python."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.functional import gaussian_weights, local_window_mask

F64 = torch.float64


def _paper_window(center: float, length: int, d: int) -> set[int]:
    """[c - D, c + D] ∩ [0, S - 1] with c = floor(center + 0.5); when that is empty, the nearest
    token (S - 1 past the end, 0 before the start), as documented; empty when S = 0."""
    c = math.floor(center + 0.5)
    window = {s for s in range(c - d, c + d + 1) if 0 <= s < length}
    if window or length == 0:
        return window
    return {length - 1} if c > length - 1 else {0}


def _support(row: torch.Tensor) -> set[int]:
    return {int(s) for s in torch.nonzero(row).flatten()}


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_local_window_mask_matches_the_paper_window(data):
    b = data.draw(st.integers(1, 3))
    tq = data.draw(st.integers(1, 4))
    tk = data.draw(st.integers(1, 8))
    d = data.draw(st.integers(0, 4))
    lengths = data.draw(st.lists(st.integers(0, tk), min_size=b, max_size=b))
    if data.draw(st.booleans()):
        centers = data.draw(st.lists(st.floats(-d - 3.0, tk + d + 3.0), min_size=b * tq, max_size=b * tq))
        centers_t = torch.tensor(centers, dtype=F64).view(b, tq)
    else:
        centers = data.draw(st.lists(st.integers(0, tk + d + 4), min_size=b * tq, max_size=b * tq))
        centers_t = torch.tensor(centers).view(b, tq)
    mask = local_window_mask(centers_t, torch.tensor(lengths), d, tk)
    assert mask.dtype == torch.bool and mask.shape == (b, tq, tk)
    for i in range(b):
        for j in range(tq):
            assert _support(mask[i, j]) == _paper_window(centers[i * tq + j], lengths[i], d)


def test_local_window_mask_past_the_end_of_a_short_sentence():
    # S = 3, D = 2: the paper's window [t - 2, t + 2] ∩ [0, 2] is non-empty up to t = 4
    mask = local_window_mask(torch.arange(8)[None], torch.tensor([3]), 2, 5)[0].int().tolist()
    assert mask[2] == [1, 1, 1, 0, 0]  # t = S - 1
    assert mask[3] == [0, 1, 1, 0, 0]  # t = S: {1, 2}, not {0, 1, 2}
    assert mask[4] == [0, 0, 1, 0, 0]  # t = S - 1 + D: {2}
    assert mask[5] == mask[6] == mask[7] == mask[4]  # empty window: the last token only


def test_local_window_mask_at_sentence_edges():
    centers = torch.arange(7).expand(2, 7)  # t = 0..6
    mask = local_window_mask(centers, torch.tensor([7, 4]), 2, 7)
    full, short = mask[0].int().tolist(), mask[1].int().tolist()
    assert full[0] == [1, 1, 1, 0, 0, 0, 0]  # t = 0: left edge clipped
    assert full[3] == [0, 1, 1, 1, 1, 1, 0]  # t = 3: full 2D + 1 window
    assert full[6] == [0, 0, 0, 0, 1, 1, 1]  # t = S - 1: right edge clipped
    assert short[3] == [0, 1, 1, 1, 0, 0, 0]  # t = S - 1 of a 4-token sentence: [1, 5] ∩ [0, 3]
    assert short[4] == [0, 0, 1, 1, 0, 0, 0]  # t = S: [2, 6] ∩ [0, 3]
    assert short[5] == short[6] == [0, 0, 0, 1, 0, 0, 0]  # t >= S - 1 + D: {S - 1}
    negative = local_window_mask(torch.tensor([[-2, -3, -9]]), torch.tensor([7]), 2, 7)[0]
    assert [_support(row) for row in negative] == [{0}, {0}, {0}]
    assert local_window_mask(torch.tensor([[2.5, 2.49]]), torch.tensor([7]), 0, 7)[0].int().argmax(-1).tolist() == [
        3,
        2,
    ]  # real centres round half up
    assert not local_window_mask(torch.tensor([[0, 5]]), torch.tensor([0]), 2, 4).any()  # S = 0


def test_local_window_mask_carries_no_gradient():
    centers = torch.tensor([[1.2, 3.7]], requires_grad=True)
    mask = local_window_mask(centers, torch.tensor([5]), 1, 5)
    assert not mask.requires_grad


def test_gaussian_weights_formula():
    centers = torch.tensor([[0.0, 2.3], [5.0, -1.0]], dtype=F64)
    got = gaussian_weights(centers, 6, 1.5)
    assert got.shape == (2, 2, 6) and got.dtype == F64
    for b in range(2):
        for q in range(2):
            for s in range(6):
                want = math.exp(-((s - centers[b, q].item()) ** 2) / (2 * 1.5**2))
                assert got[b, q, s].item() == pytest.approx(want, rel=1e-12)
    assert gaussian_weights(torch.tensor([[1]]), 3, 1.0).dtype == torch.get_default_dtype()


def test_gaussian_weights_gradient_is_the_derivative_of_the_formula():
    centers = torch.tensor([[1.3]], dtype=F64, requires_grad=True)
    sigma = 0.8
    gaussian_weights(centers, 4, sigma).sum().backward()
    p = 1.3
    want = sum(math.exp(-((s - p) ** 2) / (2 * sigma**2)) * (s - p) / sigma**2 for s in range(4))
    assert centers.grad.item() == pytest.approx(want, rel=1e-12)


def test_functional_helper_errors():
    centers, lengths = torch.zeros(2, 3), torch.tensor([3, 2])
    with pytest.raises(ValueError, match="window must be >= 0.*got -1"):
        local_window_mask(centers, lengths, -1, 3)
    with pytest.raises(TypeError, match="window must be an int"):
        local_window_mask(centers, lengths, 1.5, 3)
    with pytest.raises(TypeError, match="window must be an int"):
        local_window_mask(centers, lengths, True, 3)
    with pytest.raises(ValueError, match=r"centers must be \(B, Tq\), got shape \(3,\)"):
        local_window_mask(centers[0], lengths, 1, 3)
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor \(B,\) = \(2,\)"):
        local_window_mask(centers, torch.tensor([3, 2, 1]), 1, 3)
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor"):
        local_window_mask(centers, torch.tensor([3.0, 2.0]), 1, 3)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, Tk=3\]"):
        local_window_mask(centers, torch.tensor([4, 2]), 1, 3)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_weights(centers, 3, 0.0)
    with pytest.raises(ValueError, match=r"centers must be \(B, Tq\)"):
        gaussian_weights(centers[0], 3, 1.0)
