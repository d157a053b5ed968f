"""hard_argmax, gumbel_softmax_st, sample_hard: exact one-hot forward, straight-through gradients,
sampling frequencies, log-probabilities and a REINFORCE gradient check, registry."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.functional import NORMALISERS, attend, gumbel_softmax_st, hard_argmax, masked_softmax, sample_hard, score

from . import strategies

F64 = torch.float64
PROPS = settings(max_examples=50, deadline=None)


@st.composite
def scores_and_mask(draw, magnitude: float = 1e4):
    """Scores (..., Tq, Tk) up to ±magnitude, with ties likely (few distinct values), and a bool
    mask that broadcasts to them (some dims of size 1), often with a fully-masked row."""
    elements = st.one_of(st.sampled_from([0.0, 1.0, -1.0]), strategies.finite(magnitude))
    return draw(strategies.scores_and_mask(elements))


def _loop_argmax_one_hot(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One-hot at the first largest unmasked score of each row (plain Python); empty rows 0."""
    mask = mask.expand_as(scores)
    tk = scores.shape[-1]
    out = torch.zeros(scores.shape, dtype=scores.dtype)
    for s, m, o in zip(scores.reshape(-1, tk).tolist(), mask.reshape(-1, tk).tolist(), out.view(-1, tk)):
        keep = [j for j in range(tk) if m[j]]
        if keep:
            o[max(keep, key=lambda j: (s[j], -j))] = 1.0  # first index among ties
    return out


def _check_one_hot(weights: torch.Tensor, mask: torch.Tensor) -> None:
    """Entries in {0, 1}, exactly one 1 per row with a key, none where masked or in empty rows."""
    full_mask = mask.expand_as(weights)
    assert ((weights == 0) | (weights == 1)).all()
    assert (weights[~full_mask] == 0).all()
    assert torch.equal(weights.sum(-1), full_mask.any(-1).to(weights.dtype))


# ------------------------------------------------------------------------------- hard_argmax
@PROPS
@given(sm=scores_and_mask())
def test_hard_argmax_forward_is_exactly_one_hot_at_the_masked_argmax(sm):
    scores, mask = sm
    weights = hard_argmax(scores, mask)
    assert weights.dtype == scores.dtype
    assert torch.equal(weights, _loop_argmax_one_hot(scores, mask))
    _check_one_hot(weights, mask)


@PROPS
@given(sm=scores_and_mask(magnitude=3.0))
def test_hard_argmax_is_exactly_one_hot_even_with_a_gradient(sm):
    # the straight-through sum must not perturb the forward values, not even by an ulp
    scores, mask = sm
    weights = hard_argmax(scores.clone().requires_grad_(), mask)
    assert torch.equal(weights.detach(), _loop_argmax_one_hot(scores, mask))


@pytest.mark.parametrize("dim", [-1, -2])
def test_hard_argmax_backward_equals_masked_softmax_backward(dim):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 4, 5, dtype=F64, generator=g)
    mask = torch.rand(2, 4, 5, generator=g) > 0.3
    mask[1, 2] = False  # fully-masked row (dim=-1)
    mask[0, :, 3] = False  # fully-masked column (dim=-2)
    upstream = torch.randn(2, 4, 5, dtype=F64, generator=g)
    ours = scores.clone().requires_grad_()
    (hard_argmax(ours, mask, dim) * upstream).sum().backward()
    reference = scores.clone().requires_grad_()
    (masked_softmax(reference, mask, dim) * upstream).sum().backward()
    torch.testing.assert_close(ours.grad, reference.grad, rtol=0, atol=0)
    assert torch.isfinite(ours.grad).all() and (ours.grad[~mask] == 0).all()
    assert ours.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_hard_argmax_low_precision(dtype):
    scores = torch.tensor([[1.0, 3.0, 2.0], [5.0, -1.0, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    mask = torch.tensor([[True, False, True], [True, True, True], [False, False, False]])
    expected = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    assert torch.equal(hard_argmax(scores, mask), expected)


# ------------------------------------------------------------------------ gumbel_softmax_st
def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@PROPS
@given(sm=scores_and_mask(), seed=st.integers(0, 2**31))
def test_gumbel_is_one_hot_at_unmasked_positions(sm, seed):
    scores, mask = sm
    weights = gumbel_softmax_st(scores, mask, generator=_seeded(seed))
    assert weights.dtype == scores.dtype
    _check_one_hot(weights, mask)


def test_gumbel_never_chooses_a_masked_position():
    g = _seeded(1)
    scores = 5 * torch.randn(2000, 7, generator=g)
    mask = torch.rand(2000, 7, generator=g) > 0.6
    mask[:10] = False  # fully-masked rows
    weights = gumbel_softmax_st(scores, mask, generator=g)
    _check_one_hot(weights, mask)
    assert not weights.isnan().any()


@pytest.mark.parametrize(
    "fn",
    [lambda s, m, g: gumbel_softmax_st(s, m, generator=g), lambda s, m, g: sample_hard(s, m, generator=g)[0]],
    ids=["gumbel_softmax_st", "sample_hard"],
)
def test_sampling_frequencies_match_the_masked_softmax(fn):
    # 50k draws: the standard error of each frequency is <= 0.5 / sqrt(50k) = 0.0022, so the
    # tolerance of 0.01 is > 4.4 standard errors (and the seed makes the test deterministic).
    n = 50_000
    scores = torch.tensor([1.0, 0.2, 3.0, -0.5, 0.7, 2.5])
    mask = torch.tensor([True, True, False, True, True, True])
    weights = fn(scores.expand(n, 6), mask, _seeded(2))
    _check_one_hot(weights, mask)
    frequencies = weights.mean(0)
    torch.testing.assert_close(frequencies, masked_softmax(scores, mask), rtol=0, atol=0.01)


def test_gumbel_backward_is_the_relaxed_softmax_backward_with_the_same_noise():
    g = _seeded(3)
    scores = torch.randn(3, 4, 6, dtype=F64, generator=g)
    mask = torch.rand(3, 4, 6, generator=g) > 0.3
    mask[2, 1] = False
    upstream = torch.randn(3, 4, 6, dtype=F64, generator=g)
    for tau in (0.5, 1.0, 2.0):
        ours = scores.clone().requires_grad_()
        (gumbel_softmax_st(ours, mask, tau=tau, generator=_seeded(4)) * upstream).sum().backward()
        # the documented noise: g = -log(-log U), U = torch.rand(shape, generator)
        u = torch.rand(scores.shape, generator=_seeded(4), dtype=F64)
        noise = -torch.log(-torch.log(u))
        reference = scores.clone().requires_grad_()
        (masked_softmax((reference + noise) / tau, mask) * upstream).sum().backward()
        torch.testing.assert_close(ours.grad, reference.grad)
        assert torch.isfinite(ours.grad).all() and (ours.grad[~mask] == 0).all()
        # ... and the forward pass is the Gumbel-max sample with that noise
        expected = _loop_argmax_one_hot(scores + noise, mask)
        assert torch.equal(gumbel_softmax_st(scores, mask, tau=tau, generator=_seeded(4)), expected)


def test_gumbel_temperature_changes_the_gradient_only():
    scores = torch.randn(4, 6, dtype=F64)
    grads, outs = [], []
    for tau in (0.5, 2.0):
        s = scores.clone().requires_grad_()
        out = gumbel_softmax_st(s, None, tau=tau, generator=_seeded(5))
        (out * torch.arange(6, dtype=F64)).sum().backward()
        grads.append(s.grad)
        outs.append(out.detach())
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(grads[0], grads[1])


def test_gumbel_same_generator_seed_same_sample_and_global_rng_by_default():
    scores = torch.randn(8, 10)
    a = gumbel_softmax_st(scores, generator=_seeded(6))
    b = gumbel_softmax_st(scores, generator=_seeded(6))
    assert torch.equal(a, b)
    torch.manual_seed(7)
    c = gumbel_softmax_st(scores)
    torch.manual_seed(7)
    assert torch.equal(c, gumbel_softmax_st(scores))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gumbel_low_precision_fully_masked_rows_no_nan(dtype):
    scores = (10 * torch.randn(50, 5)).to(dtype).requires_grad_()
    mask = torch.rand(50, 5) > 0.5
    mask[:5] = False
    out = gumbel_softmax_st(scores, mask, generator=_seeded(8))
    assert out.dtype == dtype
    _check_one_hot(out.detach(), mask)
    (out * torch.randn(50, 5).to(dtype)).sum().backward()
    assert torch.isfinite(scores.grad).all() and (scores.grad[~mask] == 0).all()


def test_torch_gumbel_softmax_gives_nan_on_fully_masked_rows_ours_does_not():
    # why we do not call F.gumbel_softmax with -inf scores
    scores = torch.full((1, 4), float("-inf"))
    assert torch.nn.functional.gumbel_softmax(scores, hard=True).isnan().any()
    mask = torch.zeros(1, 4, dtype=torch.bool)
    assert torch.equal(gumbel_softmax_st(torch.zeros(1, 4), mask), torch.zeros(1, 4))


@pytest.mark.parametrize("tau", [0.0, -1.0, math.inf, math.nan])
def test_gumbel_bad_temperature_raises_value_error(tau):
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax_st(torch.randn(2, 3), tau=tau)


# -------------------------------------------------------------------------------- sample_hard
@PROPS
@given(sm=scores_and_mask(magnitude=30.0), seed=st.integers(0, 2**31))
def test_sample_hard_log_prob_is_log_softmax_at_the_sample(sm, seed):
    scores, mask = sm
    weights, log_prob = sample_hard(scores, mask, generator=_seeded(seed))
    _check_one_hot(weights, mask)
    assert not weights.requires_grad
    assert log_prob.shape == scores.shape[:-1] and log_prob.dtype == scores.dtype
    # independent: log of the probability, by hand, of the chosen index; 0 for empty rows
    full_mask = mask.expand_as(scores)
    tk = scores.shape[-1]
    for s, m, w, lp in zip(
        scores.reshape(-1, tk).tolist(),
        full_mask.reshape(-1, tk).tolist(),
        weights.reshape(-1, tk).tolist(),
        log_prob.reshape(-1).tolist(),
    ):
        keep = [j for j in range(tk) if m[j]]
        if not keep:
            assert lp == 0.0
            continue
        i = w.index(1.0)
        top = max(s[j] for j in keep)
        expected = s[i] - top - math.log(sum(math.exp(s[j] - top) for j in keep))
        assert math.isclose(lp, expected, rel_tol=1e-9, abs_tol=1e-9)


def test_sample_hard_log_prob_gradient_is_finite_including_fully_masked_rows():
    scores = torch.randn(4, 3, 6, dtype=F64, requires_grad=True)
    mask = torch.rand(4, 3, 6) > 0.4
    mask[0, 0] = False
    _, log_prob = sample_hard(scores, mask, generator=_seeded(9))
    log_prob.sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert (scores.grad[~mask] == 0).all() and (scores.grad[0, 0] == 0).all()


def test_reinforce_estimate_matches_the_exact_gradient_of_the_expectation():
    # d/ds E_{i ~ softmax(s)}[f(i)] = E[f(i) d/ds log p(i)]; the exact gradient differentiates
    # sum_i p_i f(i). Per-draw gradients f(i) (e_i - p) have standard deviations <= 0.82 here,
    # so with 200k draws the standard error is <= 0.0018 per entry; tolerance 0.01 (> 5 SE).
    n = 200_000
    s = torch.tensor([0.5, -1.0, 2.0, 0.3, 1.0, 0.0], dtype=F64)
    mask = torch.tensor([True, True, True, True, True, False])
    f = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0, 100.0], dtype=F64)  # f at the masked key unused
    exact_s = s.clone().requires_grad_()
    (masked_softmax(exact_s, mask) * f).sum().backward()

    estimate_s = s.clone().requires_grad_()
    weights, log_prob = sample_hard(estimate_s.expand(n, 6), mask, generator=_seeded(10))
    reward = (weights * f).sum(-1)  # f(i) of each draw, (n,)
    (reward * log_prob).mean().backward()
    torch.testing.assert_close(estimate_s.grad, exact_s.grad, rtol=0, atol=0.01)
    assert estimate_s.grad[~mask].eq(0).all()


# ---------------------------------------------------------------------- registry, attend
def test_registered_with_description_and_reference():
    assert {"hard", "gumbel", "sparsemax", "entmax15", "softmax"} <= set(NORMALISERS.names())
    assert NORMALISERS.get("hard") is hard_argmax
    assert NORMALISERS.get("gumbel") is gumbel_softmax_st
    for name in ("hard", "gumbel"):
        entry = NORMALISERS.entry(name)
        assert entry.description and entry.reference


@pytest.mark.parametrize("name", ["hard", "gumbel"])
def test_attend_with_hard_normalisers_selects_one_value_per_query(name):
    g = _seeded(11)
    q = torch.randn(2, 5, 8, dtype=F64, generator=g).requires_grad_()
    k = torch.randn(2, 7, 8, dtype=F64, generator=g)
    v = torch.randn(2, 7, 4, dtype=F64, generator=g)
    mask = torch.rand(2, 5, 7, generator=g) > 0.5
    mask[1, 3] = False  # fully-masked row
    out = attend(q, k, v, normalise=name, mask=mask)
    _check_one_hot(out.weights.detach(), mask)
    chosen = out.weights.detach().argmax(-1)  # (B, Tq)
    expected = torch.gather(v, 1, chosen[..., None].expand(2, 5, 4))
    expected = expected * mask.any(-1, keepdim=True)
    torch.testing.assert_close(out.context, expected, rtol=0, atol=0)
    if name == "hard":
        scores = score.scaled_dot(q.detach(), k).masked_fill(~mask, -math.inf)
        has_key = mask.any(-1)
        assert torch.equal(chosen[has_key], scores.argmax(-1)[has_key])
    out.context.sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
