"""weighted_sum against the loop c_i = sum_j alpha_ij v_j [Bahdanau15] Eq. 5."""

from __future__ import annotations

import pytest
import torch

from attnkit.functional import weighted_sum

F64 = torch.float64


def test_weighted_sum_matches_loop_with_broadcasting():
    weights = torch.rand(2, 3, 4, 5, dtype=F64)  # (B, Nh, Tq, Tk)
    values = torch.randn(2, 1, 5, 6, dtype=F64)  # (B, 1, Tk, Dv)
    out = weighted_sum(weights, values)
    assert out.shape == (2, 3, 4, 6)
    for b in range(2):
        for h in range(3):
            for i in range(4):
                for d in range(6):
                    expected = sum(weights[b, h, i, j].item() * values[b, 0, j, d].item() for j in range(5))
                    assert out[b, h, i, d].item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_weighted_sum_of_one_hot_weights_selects_values():
    values = torch.randn(2, 4, 3, dtype=F64)
    weights = torch.eye(4, dtype=F64).flip(0).expand(2, 4, 4)
    torch.testing.assert_close(weighted_sum(weights, values), values.flip(1))


def test_weighted_sum_key_count_mismatch_raises():
    with pytest.raises(ValueError, match="Tk=5 keys but values have Tk=4"):
        weighted_sum(torch.rand(2, 3, 5), torch.randn(2, 4, 6))
