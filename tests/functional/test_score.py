"""Score functions against the papers' formulas, written out with Python loops in float64."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from attnkit.functional import score

F64 = torch.float64


def _randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64)


# --- independent references: one (Tq, D) x (Tk, D) slice, plain Python floats -------------


def _ref_dot(q: list, k: list) -> list:
    return [[sum(qd * kd for qd, kd in zip(qi, kj)) for kj in k] for qi in q]  # [Luong15] Eq. 8


def _ref_scaled_dot(q: list, k: list, scale: float | None = None) -> list:
    scale = 1.0 / math.sqrt(len(q[0])) if scale is None else scale  # [Vaswani17] Eq. 1
    return [[scale * e for e in row] for row in _ref_dot(q, k)]


def _ref_general(q: list, k: list, w: list) -> list:
    # e_ij = q_i^T W_a k_j = sum_a sum_b q_i[a] W[a][b] k_j[b]
    return [[sum(qi[a] * w[a][b] * kj[b] for a in range(len(qi)) for b in range(len(kj))) for kj in k] for qi in q]


def _ref_additive_raw(q: list, k: list, wq: list, uk: list, b: list, v: list) -> list:
    # e_ij = sum_a v[a] tanh(Wq[a]·q_i + Uk[a]·k_j + b[a])   [Bahdanau15] Eq. 6
    out = []
    for qi in q:
        row = []
        for kj in k:
            e = 0.0
            for a in range(len(v)):
                pre = sum(wq[a][d] * qi[d] for d in range(len(qi)))
                pre += sum(uk[a][d] * kj[d] for d in range(len(kj))) + b[a]
                e += v[a] * math.tanh(pre)
            row.append(e)
        out.append(row)
    return out


def _ref_additive_proj(qp: list, kp: list, v: list) -> list:
    return [[sum(v[a] * math.tanh(qi[a] + kj[a]) for a in range(len(v))) for kj in kp] for qi in qp]


def _ref_location(q: list, w: list, n_keys: int) -> list:
    # e_ij = W_a[j] · h_i   [Luong15] Eq. 9: one row of W_a per source position
    return [[sum(w[j][d] * qi[d] for d in range(len(qi))) for j in range(n_keys)] for qi in q]


def _ref_cosine(q: list, k: list, eps: float = 1e-8) -> list:
    def norm(x: list) -> float:
        return max(math.sqrt(sum(xd * xd for xd in x)), eps)

    return [[sum(a * b for a, b in zip(qi, kj)) / (norm(qi) * norm(kj)) for kj in k] for qi in q]


def _batched(ref, q: torch.Tensor, k: torch.Tensor, *args) -> torch.Tensor:
    """Apply a (Tq, D) x (Tk, D) reference to every leading index of the broadcast batch."""
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    q = q.expand(*lead, *q.shape[-2:])
    k = k.expand(*lead, *k.shape[-2:])
    out = torch.empty(*lead, q.shape[-2], k.shape[-2], dtype=F64)
    for idx in itertools.product(*(range(n) for n in lead)):
        out[idx] = torch.tensor(ref(q[idx].tolist(), k[idx].tolist(), *args), dtype=F64)
    return out


# --- values -------------------------------------------------------------------------------


def test_dot_matches_loop():
    q, k = _randn(2, 3, 5), _randn(2, 4, 5)
    torch.testing.assert_close(score.dot(q, k), _batched(_ref_dot, q, k))


@pytest.mark.parametrize("scale", [None, 0.3])
def test_scaled_dot_matches_loop(scale):
    q, k = _randn(2, 3, 6), _randn(2, 4, 6)
    torch.testing.assert_close(score.scaled_dot(q, k, scale), _batched(_ref_scaled_dot, q, k, scale))


def test_scaled_dot_default_scale_is_inverse_sqrt_width():
    q, k = _randn(3, 16), _randn(4, 16)
    torch.testing.assert_close(score.scaled_dot(q, k), score.dot(q, k) / 4.0)


def test_general_matches_loop_with_unequal_widths():
    q, k, w = _randn(2, 3, 4), _randn(2, 5, 6), _randn(4, 6)
    expected = _batched(lambda qs, ks: _ref_general(qs, ks, w.tolist()), q, k)
    torch.testing.assert_close(score.general(q, k, w), expected)


def test_general_with_identity_weight_is_dot():
    q, k = _randn(2, 3, 5), _randn(2, 4, 5)
    torch.testing.assert_close(score.general(q, k, torch.eye(5, dtype=F64)), score.dot(q, k))


def test_additive_matches_bahdanau_eq6_from_raw_weights():
    dq, dk, da = 3, 5, 4
    q, k = _randn(2, 3, dq), _randn(2, 4, dk)
    wq, uk, b, v = _randn(da, dq), _randn(da, dk), _randn(da), _randn(da)
    ours = score.additive(q @ wq.T, k @ uk.T + b, v)
    expected = _batched(
        lambda qs, ks: _ref_additive_raw(qs, ks, wq.tolist(), uk.tolist(), b.tolist(), v.tolist()), q, k
    )
    torch.testing.assert_close(ours, expected)


def test_additive_matches_loop_on_projected_inputs():
    qp, kp, v = _randn(2, 3, 4), _randn(2, 5, 4), _randn(4)
    expected = _batched(lambda qs, ks: _ref_additive_proj(qs, ks, v.tolist()), qp, kp)
    torch.testing.assert_close(score.additive(qp, kp, v), expected)


def test_location_matches_loop_and_ignores_keys():
    q, w = _randn(2, 3, 4), _randn(7, 4)
    ours = score.location(q, w, n_keys=5)
    expected = torch.stack([torch.tensor(_ref_location(qb.tolist(), w.tolist(), 5)) for qb in q])
    torch.testing.assert_close(ours, expected.to(F64))
    assert ours.shape == (2, 3, 5)


def test_cosine_matches_loop_and_lies_in_unit_interval():
    q, k = _randn(2, 3, 5), _randn(2, 4, 5)
    ours = score.cosine(q, k)
    torch.testing.assert_close(ours, _batched(_ref_cosine, q, k))
    assert ours.abs().max() <= 1.0 + 1e-12


def test_cosine_is_scale_invariant_and_one_on_itself():
    q, k = _randn(3, 5), _randn(4, 5)
    torch.testing.assert_close(score.cosine(2.5 * q, 0.1 * k), score.cosine(q, k))
    torch.testing.assert_close(score.cosine(q, q).diagonal(), torch.ones(3, dtype=F64))


def test_cosine_of_zero_vector_is_zero_not_nan():
    q = torch.zeros(1, 2, 3, dtype=F64)
    k = _randn(1, 4, 3)
    out = score.cosine(q, k)
    assert not out.isnan().any()
    assert torch.equal(out, torch.zeros_like(out))


# --- broadcasting over leading batch dims -------------------------------------------------


def test_dot_scaled_dot_cosine_broadcast_leading_dims():
    q, k = _randn(2, 1, 3, 4), _randn(5, 6, 4)  # lead (2, 1) x (5,) -> (2, 5)
    for fn, ref in [(score.dot, _ref_dot), (score.scaled_dot, _ref_scaled_dot), (score.cosine, _ref_cosine)]:
        out = fn(q, k)
        assert out.shape == (2, 5, 3, 6)
        torch.testing.assert_close(out, _batched(ref, q, k))


def test_general_broadcasts_leading_dims():
    q, k, w = _randn(2, 1, 3, 4), _randn(5, 6, 2), _randn(4, 2)
    out = score.general(q, k, w)
    assert out.shape == (2, 5, 3, 6)
    torch.testing.assert_close(out, _batched(lambda a, b: _ref_general(a, b, w.tolist()), q, k))


def test_additive_broadcasts_leading_dims():
    qp, kp, v = _randn(2, 1, 3, 4), _randn(5, 6, 4), _randn(4)
    out = score.additive(qp, kp, v)
    assert out.shape == (2, 5, 3, 6)
    torch.testing.assert_close(out, _batched(lambda a, b: _ref_additive_proj(a, b, v.tolist()), qp, kp))


def test_location_broadcasts_leading_dims():
    q, w = _randn(2, 3, 4, 5), _randn(6, 5)
    out = score.location(q, w, n_keys=6)
    assert out.shape == (2, 3, 4, 6)
    torch.testing.assert_close(out[1, 2], torch.tensor(_ref_location(q[1, 2].tolist(), w.tolist(), 6), dtype=F64))


def test_scores_are_differentiable():
    q, k = _randn(2, 3, 4).requires_grad_(), _randn(2, 5, 4).requires_grad_()
    w, v = _randn(4, 4).requires_grad_(), _randn(4).requires_grad_()
    for fn, args in [
        (score.dot, (q, k)),
        (score.scaled_dot, (q, k)),
        (score.general, (q, k, w)),
        (score.additive, (q, k, v)),
        (score.cosine, (q, k)),
        (lambda a, b: score.location(a, b, 3), (q, w)),
    ]:
        assert torch.autograd.gradcheck(fn, args)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [score.dot, score.scaled_dot, score.cosine])
def test_width_mismatch_raises_value_error(fn):
    with pytest.raises(ValueError, match="Dq=4 and Dk=5"):
        fn(_randn(2, 3, 4), _randn(2, 3, 5))


@pytest.mark.parametrize("shape", [(5, 4), (4, 4), (4,), (1, 4, 5)])
def test_general_wrong_weight_shape_raises_value_error(shape):
    with pytest.raises(ValueError, match=r"\(Dq, Dk\) = \(4, 5\)"):
        score.general(_randn(2, 3, 4), _randn(2, 6, 5), _randn(*shape))


@pytest.mark.parametrize(
    "qp, kp, v",
    [
        ((2, 3, 4), (2, 5, 3), (4,)),  # q_proj vs k_proj
        ((2, 3, 4), (2, 5, 4), (3,)),  # energy width
        ((2, 3, 4), (2, 5, 4), (1, 4)),
    ],  # energy not a vector
)
def test_additive_width_mismatch_raises_value_error(qp, kp, v):
    with pytest.raises(ValueError, match="additive score needs"):
        score.additive(_randn(*qp), _randn(*kp), _randn(*v))


def test_additive_scalar_energy_raises_value_error():
    with pytest.raises(ValueError, match="additive score needs"):
        score.additive(_randn(2, 3, 4), _randn(2, 5, 4), torch.tensor(1.0, dtype=F64))


def test_location_too_many_keys_raises_value_error():
    with pytest.raises(ValueError, match="at most 7 source positions, got 8"):
        score.location(_randn(2, 3, 4), _randn(7, 4), n_keys=8)


def test_location_width_mismatch_raises_value_error():
    with pytest.raises(ValueError):
        score.location(_randn(2, 3, 4), _randn(7, 3), n_keys=5)


def test_location_negative_n_keys_raises_value_error():
    with pytest.raises(ValueError):
        score.location(_randn(2, 3, 4), _randn(7, 4), n_keys=-2)
