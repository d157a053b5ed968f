"""masked_sparsemax / masked_entmax15: closed forms, independent plain-Python solvers, the entmax
package, properties over random shapes/masks/scores, gradients, low precision, registry."""

from __future__ import annotations

import math

import entmax
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from attnkit.functional import NORMALISERS, attend, masked_entmax15, masked_sparsemax, score

from . import strategies

F64 = torch.float64
PROPS = settings(max_examples=50, deadline=None)
SPARSE = pytest.mark.parametrize("fn", [masked_sparsemax, masked_entmax15], ids=["sparsemax", "entmax15"])
# A score this far (or farther) below the row's top unmasked score gets weight exactly 0:
# sparsemax has tau >= z_max - 1, 1.5-entmax has tau >= z_max / 2 - 1 (no weight exceeds 1).
SUPPORT_GAP = {masked_sparsemax: 1.0, masked_entmax15: 2.0}


# ---------------------------------------------------------------- independent references
def _simplex_projection(z: list[float]) -> list[float]:
    """Euclidean projection of z onto the probability simplex, by sorting (plain Python)."""
    cumsum, theta = 0.0, 0.0
    for j, u in enumerate(sorted(z, reverse=True), start=1):
        cumsum += u
        if u - (cumsum - 1.0) / j > 0:  # u_j is in the support: the threshold so far
            theta = (cumsum - 1.0) / j
    return [max(zi - theta, 0.0) for zi in z]


def _is_simplex_projection(z: list[float], p: list[float], tol: float) -> bool:
    """Optimality of p = argmin_{q in simplex} ||q - z||^2: p in the simplex and
    (z - p)·(e_j - p) <= 0 for every vertex e_j (variational inequality)."""
    r = [zi - pi for zi, pi in zip(z, p)]
    rp = sum(ri * pi for ri, pi in zip(r, p))
    return min(p) >= 0 and abs(sum(p) - 1) <= tol and all(rj - rp <= tol * (1 + max(map(abs, z))) for rj in r)


def _entmax15_bisect(z: list[float]) -> list[float]:
    """alpha-entmax by definition, alpha = 1.5: p_i = [(alpha - 1) z_i - tau]_+^{1/(alpha - 1)}
    with tau found by bisection so that sum p = 1 (plain Python)."""
    a = [0.5 * zi for zi in z]  # (alpha - 1) z_i
    lo, hi = max(a) - 1.0, max(a)  # total(lo) >= 1 (the top term alone is 1), total(hi) = 0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        if sum(max(ai - mid, 0.0) ** 2 for ai in a) >= 1.0:
            lo = mid
        else:
            hi = mid
    p = [max(ai - lo, 0.0) ** 2 for ai in a]
    return [pi / sum(p) for pi in p]


REFERENCE = {masked_sparsemax: _simplex_projection, masked_entmax15: _entmax15_bisect}


def _rowwise(reference, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply a plain-Python `reference` to the unmasked scores of each row; masked -> 0."""
    mask = mask.expand_as(scores)
    tk = scores.shape[-1]
    out = torch.zeros(scores.shape, dtype=F64)
    for s, m, o in zip(scores.reshape(-1, tk).tolist(), mask.reshape(-1, tk).tolist(), out.view(-1, tk)):
        keep = [j for j in range(tk) if m[j]]
        if keep:
            o[keep] = torch.tensor(reference([s[j] for j in keep]), dtype=F64)
    return out


@st.composite
def scores_and_mask(draw, magnitude: float | None = None):
    """Scores (..., Tq, Tk) up to ±magnitude (small, so supports are rich, or large), and a bool
    mask that broadcasts to them (some dims of size 1), often with a fully-masked row."""
    magnitude = magnitude or draw(st.sampled_from([2.0, 1e4]))
    return draw(strategies.scores_and_mask(strategies.finite(magnitude)))


# ------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize(
    "z, expected", [([0.0, 0.0], [0.5, 0.5]), ([3.0, 1.0, 0.0], [1.0, 0.0, 0.0]), ([1.0, 0.5, 0.0], [0.75, 0.25, 0.0])]
)
def test_sparsemax_closed_form_cases(z, expected):
    out = masked_sparsemax(torch.tensor(z, dtype=F64))
    torch.testing.assert_close(out, torch.tensor(expected, dtype=F64), rtol=0, atol=1e-15)


def test_sparsemax_ignores_masked_scores_however_large():
    scores = torch.tensor([[1.0, 0.5, 1e300, 0.0], [1.0, 0.5, -1e300, 0.0]], dtype=F64)
    mask = torch.tensor([True, True, False, True])
    expected = torch.tensor([[0.75, 0.25, 0.0, 0.0]] * 2, dtype=F64)
    torch.testing.assert_close(masked_sparsemax(scores, mask), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("d", [0.0, 0.1, 0.5, 1.0, 1.5, 1.99, 2.0, 3.0, 50.0])
def test_entmax15_two_elements_closed_form(d):
    # With p_i = (z_i / 2 - tau)^2 and both in the support, sqrt(p1) - sqrt(p2) = d / 2 and
    # p1 + p2 = 1 give sqrt(p1) = (sqrt(2 - d^2 / 4) + d / 2) / 2; for d >= 2, p = (1, 0).
    p1 = ((math.sqrt(2 - d * d / 4) + d / 2) / 2) ** 2 if d < 2 else 1.0
    expected = torch.tensor([p1, 1 - p1], dtype=F64)
    z = [d + 0.25, 0.25]
    out = masked_entmax15(torch.tensor(z, dtype=F64))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.tensor(_entmax15_bisect(z), dtype=F64), expected, rtol=0, atol=1e-12)


@SPARSE
def test_matches_entmax_package_on_unmasked_rows(fn):
    package = {masked_sparsemax: entmax.sparsemax, masked_entmax15: entmax.entmax15}[fn]
    g = torch.Generator().manual_seed(0)
    scores = 2 * torch.randn(3, 4, 7, dtype=F64, generator=g)
    all_true = torch.ones(1, 4, 7, dtype=torch.bool)  # (1, Tq, Tk): a 2-D mask would be (B, Tk)
    for mask in (None, all_true):
        torch.testing.assert_close(fn(scores, mask), package(scores, dim=-1), rtol=0, atol=1e-15)
    # a masked row equals the package applied to its unmasked scores alone
    mask = torch.tensor([True, False, True, True, False, True, True])
    out = fn(scores, mask)
    torch.testing.assert_close(out[..., mask], package(scores[..., mask], dim=-1), rtol=0, atol=1e-14)
    assert (out[..., ~mask] == 0).all()


# --------------------------------------------------------------- properties (hypothesis)
@SPARSE
@PROPS
@given(sm=scores_and_mask())
def test_properties_float64(fn, sm):
    scores, mask = sm
    weights = fn(scores, mask)
    full_mask = strategies.assert_distribution_rows(weights, scores, mask)
    # weight exactly 0 for every unmasked score well below the row's top unmasked score
    top = scores.masked_fill(~full_mask, -math.inf).amax(-1, keepdim=True)
    far_below = full_mask & (scores <= top - SUPPORT_GAP[fn] - 1e-6)
    assert (weights[far_below] == 0).all()


@SPARSE
@PROPS
@given(sm=scores_and_mask())
def test_equals_plain_python_solver(fn, sm):
    scores, mask = sm
    torch.testing.assert_close(fn(scores, mask), _rowwise(REFERENCE[fn], scores, mask), rtol=1e-9, atol=1e-9)


@PROPS
@given(z=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=8))
def test_sparsemax_is_the_euclidean_projection_onto_the_simplex(z):
    p = masked_sparsemax(torch.tensor(z, dtype=F64)).tolist()
    assert _is_simplex_projection(z, p, tol=1e-12)


@SPARSE
@PROPS
@given(
    z=st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=8), data=st.data(), extra=st.floats(1e-3, 1e3)
)
def test_large_score_gaps_give_exact_zeros(fn, z, data, extra):
    j = data.draw(st.integers(0, len(z) - 1))
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=len(z), max_size=len(z))))
    mask[j] = True
    assume(mask.sum() >= 2)
    z[j] = max(zi for i, zi in enumerate(z) if mask[i] and i != j) - SUPPORT_GAP[fn] - extra
    weights = fn(torch.tensor(z, dtype=F64), mask)
    assert weights[j] == 0
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0, dtype=F64))


@SPARSE
@PROPS
@given(sm=scores_and_mask(), data=st.data())
def test_invariant_to_adding_a_constant_per_row(fn, sm, data):
    scores, mask = sm
    shift = data.draw(arrays(np.float64, (*scores.shape[:-1], 1), elements=st.floats(-1e4, 1e4, allow_nan=False)))
    shifted = fn(scores + torch.from_numpy(shift), mask)
    torch.testing.assert_close(shifted, fn(scores, mask), rtol=0, atol=1e-9)


@SPARSE
@PROPS
@given(sm=scores_and_mask())
def test_other_dim_equals_transposed_last_dim(fn, sm):
    scores, mask = sm
    mask = mask.expand_as(scores)
    out = fn(scores.transpose(-1, -2), mask.transpose(-1, -2), dim=-2)
    torch.testing.assert_close(out.transpose(-1, -2), fn(scores, mask))


@SPARSE
def test_unmasked_minus_infinity_gets_zero_and_an_all_minus_inf_row_gives_zeros(fn):
    inf = math.inf
    scores = torch.tensor([[0.0, -inf, 0.0, 5.0], [-inf, -inf, -inf, 2.0]], dtype=F64)
    mask = torch.tensor([True, True, True, False])
    out = fn(scores, mask)
    torch.testing.assert_close(out[0], torch.tensor([0.5, 0.0, 0.5, 0.0], dtype=F64))
    assert (out[1] == 0).all()  # masked entries are finite but must not take the mass
    unmasked = fn(torch.tensor([[-inf, 1.0, -inf], [-inf, -inf, -inf]], dtype=F64))
    torch.testing.assert_close(unmasked, torch.tensor([[0.0, 1.0, 0.0], [0.0] * 3], dtype=F64))


# ----------------------------------------------------------------------------- gradients
@SPARSE
def test_gradcheck_with_mask_and_fully_masked_row(fn):
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(2, 3, 5, dtype=F64, generator=g).requires_grad_()
    mask = torch.tensor([True, True, False, True, True]).expand(2, 3, 5).clone()
    mask[1, 2] = False  # fully-masked row
    mask[0, 1, :2] = False
    assert torch.autograd.gradcheck(lambda s: fn(s, mask), (scores,))


@SPARSE
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, F64])
def test_gradient_is_finite_and_zero_where_masked(fn, dtype):
    g = torch.Generator().manual_seed(4)
    scores = (3 * torch.randn(2, 3, 6, generator=g)).to(dtype).requires_grad_()
    mask = torch.rand(2, 3, 6, generator=g) > 0.4
    mask[0, 1] = False  # fully-masked row
    upstream = torch.randn(2, 3, 6, generator=g).to(dtype)
    (fn(scores, mask) * upstream).sum().backward()
    assert scores.grad.dtype == dtype
    assert torch.isfinite(scores.grad).all()
    assert (scores.grad[~mask] == 0).all()


# ------------------------------------------------------------------------ low precision
@SPARSE
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@settings(max_examples=30, deadline=None)
@given(sm=scores_and_mask(magnitude=6e4))
def test_low_precision_no_nan_and_close_to_float64_golden(fn, dtype, sm):
    scores64, mask = sm
    scores = scores64.to(dtype)
    weights = fn(scores, mask)
    strategies.assert_masked_weights(weights, scores, mask)
    # computed in float32 and rounded once to `dtype`: a few units of its eps at most
    golden = _rowwise(REFERENCE[fn], scores.to(F64), mask)
    torch.testing.assert_close(weights.to(F64), golden, rtol=0, atol=4 * torch.finfo(dtype).eps)


@SPARSE
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_long_rows_in_low_precision_stay_accurate(fn, dtype):
    # hundreds of keys in the support: the threshold's cumulative sums need float32
    g = torch.Generator().manual_seed(6)
    scores = (0.005 * torch.randn(3, 512, generator=g, dtype=F64)).to(dtype)
    mask = torch.rand(3, 512, generator=g) > 0.2
    weights = fn(scores, mask)
    assert (weights > 0).sum(-1).min() > 50
    golden = _rowwise(REFERENCE[fn], scores.to(F64), mask)
    # only the final rounding to `dtype` (relative eps / 2) may show, not the sums' errors
    torch.testing.assert_close(weights.to(F64), golden, rtol=torch.finfo(dtype).eps, atol=1e-6)


@SPARSE
def test_float16_scores_at_the_extremes_of_the_range(fn):
    # finfo.min filling would tie with (or, after subtracting the max, overflow past) these
    big = torch.finfo(torch.float16).max
    scores = torch.tensor([[-big, -big + 32, big], [big, big - 32, -big]], dtype=torch.float16)
    mask = torch.tensor([[True, True, False], [True, True, False]])
    out = fn(scores, mask)
    expected = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float16)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


# ------------------------------------------------------------------------------- errors
@SPARSE
def test_non_bool_mask_raises_type_error(fn):
    with pytest.raises(TypeError, match="torch.bool"):
        fn(torch.randn(2, 3, 4), torch.ones(2, 3, 4, dtype=torch.uint8))


@SPARSE
@pytest.mark.parametrize("mask_shape", [(2, 3, 5), (3, 3, 4), (2, 1, 3, 4)])
def test_non_broadcastable_mask_raises_value_error(fn, mask_shape):
    with pytest.raises(ValueError, match="does not broadcast to scores"):
        fn(torch.randn(2, 3, 4), torch.ones(mask_shape, dtype=torch.bool))


# ---------------------------------------------------------------------- registry, attend
@pytest.mark.parametrize("name, fn", [("sparsemax", masked_sparsemax), ("entmax15", masked_entmax15)])
def test_registered_with_description_and_reference(name, fn):
    assert name in NORMALISERS.names()
    entry = NORMALISERS.entry(name)
    assert entry.obj is fn and entry.description and entry.reference


@pytest.mark.parametrize("name, fn", [("sparsemax", masked_sparsemax), ("entmax15", masked_entmax15)])
def test_attend_end_to_end_with_masks(name, fn):
    g = torch.Generator().manual_seed(5)
    q = (3 * torch.randn(2, 2, 4, 8, dtype=F64, generator=g)).requires_grad_()
    k = torch.randn(2, 2, 6, 8, dtype=F64, generator=g)
    v = torch.randn(2, 2, 6, 5, dtype=F64, generator=g)
    padding = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])[:, None, None, :]
    mask = padding & torch.ones(4, 6, dtype=torch.bool).tril(2)  # (B, 1, Tq, Tk)
    mask = mask.expand(2, 2, 4, 6).clone()
    mask[0, 1, 3] = False  # fully-masked row
    out = attend(q, k, v, normalise=name, mask=mask)
    expected_w = fn(score.scaled_dot(q, k), mask)
    torch.testing.assert_close(out.weights, expected_w)
    torch.testing.assert_close(out.context, torch.einsum("bhqk,bhkd->bhqd", expected_w, v))
    assert (out.weights[~mask] == 0).all()
    assert (out.context[0, 1, 3] == 0).all()
    assert (out.weights == 0).any() and out.weights.sum(-1)[mask.any(-1)].allclose(torch.ones((), dtype=F64))
    no_weights = attend(q, k, v, normalise=name, mask=mask, need_weights=False)
    assert no_weights.weights is None
    torch.testing.assert_close(no_weights.context, out.context)
    out.context.sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
