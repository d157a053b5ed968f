"""attend() with an additive bias, is_causal and dropout: explicit vs fused path vs einsum."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.functional import attend, causal_mask

F64 = torch.float64
B, NH, TQ, TK, D = 2, 3, 4, 6, 8


def _qkv(tq: int = TQ, tk: int = TK, dtype=F64):
    g = torch.Generator().manual_seed(5)
    return tuple(torch.randn(B, NH, t, D, generator=g).to(dtype) for t in (tq, tk, tk))


def _reference(q, k, v, bias=None, mask=None):
    """softmax(q k^T / sqrt(D) + bias) v over the allowed keys, written out; empty rows -> 0."""
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / D**0.5
    if bias is not None:
        scores = scores + bias
    allowed = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.expand_as(scores)
    exp = torch.where(allowed, torch.exp(scores - scores.amax(-1, keepdim=True)), 0.0)
    total = exp.sum(-1, keepdim=True)
    weights = torch.where(total > 0, exp / total.clamp_min(1e-300), 0.0)
    return torch.einsum("bhqk,bhkd->bhqd", weights, v), weights


def _both(q, k, v, **kwargs):
    explicit = attend(q, k, v, **kwargs)
    fused = attend(q, k, v, need_weights=False, **kwargs)
    return explicit, fused


def _sdpa_calls(monkeypatch) -> list[dict]:
    calls, sdpa = [], F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **kw: calls.append(kw) or sdpa(*a, **kw))
    return calls


_BIASES = {
    "(Nh,Tq,Tk) alibi-like": lambda: (
        -0.5
        * torch.arange(1, NH + 1, dtype=F64)[:, None, None]
        * (torch.arange(TK)[None, :] - torch.arange(TQ)[:, None]).abs()
    ),
    "(Tq,Tk)": lambda: torch.randn(TQ, TK, dtype=F64),
    "(B,1,1,Tk)": lambda: torch.randn(B, 1, 1, TK, dtype=F64),
    "(Tk,)": lambda: torch.randn(TK, dtype=F64),
    "(B,Nh,Tq,Tk)": lambda: torch.randn(B, NH, TQ, TK, dtype=F64) * 3,
}


@pytest.mark.parametrize("name", list(_BIASES))
def test_bias_matches_einsum_reference_on_both_paths(name, monkeypatch):
    q, k, v = _qkv()
    bias = _BIASES[name]()
    calls = _sdpa_calls(monkeypatch)
    explicit, fused = _both(q, k, v, bias=bias)
    assert len(calls) == 1 and calls[0]["attn_mask"].dtype == F64
    ctx, weights = _reference(q, k, v, bias=bias)
    torch.testing.assert_close(explicit.context, ctx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(explicit.weights, weights, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.context, ctx, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(ctx, _reference(q, k, v)[0])  # the bias has an effect


def test_bias_and_mask_with_fully_masked_rows_agree_and_give_zeros():
    q, k, v = (t.requires_grad_() for t in _qkv())
    bias = _BIASES["(Nh,Tq,Tk) alibi-like"]()
    mask = torch.rand(B, 1, TQ, TK, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[0, 0, 1] = False  # a query with no key
    mask[1] = False  # an example with no key at all
    explicit, fused = _both(q, k, v, bias=bias, mask=mask)
    ctx, weights = _reference(q, k, v, bias=bias, mask=mask)
    torch.testing.assert_close(explicit.context, ctx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(explicit.weights, weights, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.context, ctx, rtol=1e-12, atol=1e-12)
    empty = ~mask.expand(B, NH, TQ, TK).any(-1)  # (B, Nh, Tq)
    assert empty.sum() == NH + NH * TQ
    for out in (explicit.context, fused.context):
        assert not out.isnan().any() and (out[empty] == 0).all()
        grads = torch.autograd.grad(out.sum(), (q, k, v))
        assert all(torch.isfinite(g).all() for g in grads)
    assert (explicit.weights[empty] == 0).all() and (explicit.weights[~mask.expand_as(explicit.weights)] == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    tq=st.integers(1, 4),
    tk=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    causal=st.booleans(),
    bias_heads=st.booleans(),
)
def test_paths_agree_on_random_bias_masks_and_causal(tq, tk, seed, causal, bias_heads):
    if causal and tk < tq:
        tk = tq
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, NH, t, D, dtype=F64, generator=g) * 2 for t in (tq, tk, tk))
    bias = torch.randn(NH if bias_heads else 1, tq, tk, dtype=F64, generator=g) * 3
    mask = torch.rand(B, 1, tq, tk, generator=g) > 0.5
    explicit, fused = _both(q, k, v, bias=bias, mask=mask, is_causal=causal)
    allowed = mask & causal_mask(tq, tk) if causal else mask
    ctx, weights = _reference(q, k, v, bias=bias, mask=allowed)
    assert not fused.context.isnan().any()
    torch.testing.assert_close(explicit.weights, weights, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(explicit.context, ctx, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused.context, ctx, rtol=1e-10, atol=1e-12)


def test_is_causal_without_mask_passes_is_causal_to_sdpa(monkeypatch):
    q, k, v = _qkv(tq=5, tk=5)
    calls = _sdpa_calls(monkeypatch)
    explicit, fused = _both(q, k, v, is_causal=True)
    assert len(calls) == 1 and calls[0]["is_causal"] is True and "attn_mask" not in calls[0]
    expected = attend(q, k, v, mask=causal_mask(5)[None])  # (1, Tq, Tk): a 2-D mask is (B, Tk)
    torch.testing.assert_close(explicit.context, expected.context, rtol=0, atol=0)
    torch.testing.assert_close(explicit.weights, expected.weights, rtol=0, atol=0)
    torch.testing.assert_close(fused.context, expected.context, rtol=1e-12, atol=1e-12)
    assert (explicit.weights.triu(1) == 0).all()


@pytest.mark.parametrize("extra", ["none", "mask", "bias"])
def test_is_causal_with_more_keys_than_queries_aligns_queries_to_the_end(extra, monkeypatch):
    q, k, v = _qkv(tq=3, tk=7)  # 4 cached positions, then 3 new queries
    mask = torch.tensor([True] * 6 + [False]) if extra == "mask" else None
    bias = torch.randn(NH, 3, 7, dtype=F64) if extra == "bias" else None
    calls = _sdpa_calls(monkeypatch)
    explicit, fused = _both(q, k, v, is_causal=True, mask=mask, bias=bias)
    assert not any(c.get("is_causal") for c in calls)  # SDPA's causal mask is top-left aligned
    allowed = torch.tensor([[j <= i + 4 for j in range(7)] for i in range(3)])
    if mask is not None:
        allowed = allowed & mask
    ctx, weights = _reference(q, k, v, bias=bias, mask=allowed)
    torch.testing.assert_close(explicit.weights, weights, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(explicit.context, ctx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused.context, ctx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("need_weights", [True, False])
def test_is_causal_with_fewer_keys_than_queries_raises(need_weights):
    q, k, v = _qkv(tq=4, tk=3)
    with pytest.raises(ValueError, match="Tq=4, Tk=3"):
        attend(q, k, v, is_causal=True, need_weights=need_weights)


@pytest.mark.parametrize("need_weights", [True, False])
def test_is_causal_with_a_wrong_mask_raises_the_mask_error(need_weights):
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="does not broadcast"):
        attend(q, k, v, is_causal=True, mask=torch.ones(TQ, TK + 1, dtype=torch.bool), need_weights=need_weights)


@pytest.mark.parametrize("need_weights", [True, False])
def test_bias_errors(need_weights):
    q, k, v = _qkv()
    with pytest.raises(TypeError, match="floating-point"):
        attend(q, k, v, bias=torch.ones(TQ, TK, dtype=torch.bool), need_weights=need_weights)
    with pytest.raises(ValueError, match=r"bias of shape \(4, 5\) does not broadcast"):
        attend(q, k, v, bias=torch.zeros(TQ, TK - 1, dtype=F64), need_weights=need_weights)
    with pytest.raises(ValueError, match="does not broadcast"):  # would enlarge the scores
        attend(q, k, v, bias=torch.zeros(5, B, NH, TQ, TK, dtype=F64), need_weights=need_weights)
    with pytest.raises(ValueError, match="dropout_p"):
        attend(q, k, v, dropout_p=1.0, need_weights=need_weights)


def test_bias_is_cast_to_the_query_dtype():
    q, k, v = _qkv(dtype=torch.float32)
    bias = torch.randn(NH, TQ, TK, dtype=F64)
    explicit, fused = _both(q, k, v, bias=bias)
    assert explicit.context.dtype == fused.context.dtype == torch.float32
    torch.testing.assert_close(fused.context, explicit.context)


@pytest.mark.parametrize("need_weights", [True, False])
def test_gradcheck_through_bias_and_mask(need_weights):
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 2, t, 3, dtype=F64, generator=g) for t in (2, 3, 3))
    bias = torch.randn(2, 2, 3, dtype=F64, generator=g)
    mask = torch.tensor([[[True, False, True], [False, False, False]]])  # (1, Tq, Tk)

    def fn(q, k, v, bias):
        return attend(q, k, v, bias=bias, mask=mask, is_causal=False, need_weights=need_weights).context

    inputs = tuple(t.requires_grad_() for t in (q, k, v, bias))
    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("need_weights", [True, False])
def test_dropout_is_unbiased_keeps_empty_rows_zero_and_zero_p_is_exact(need_weights):
    q, k, v = (t[:1, :1] for t in _qkv())  # (1, 1, T, D)
    mask = torch.ones(1, TQ, TK, dtype=torch.bool)  # (1, Tq, Tk)
    mask[0, 2] = False
    expected = attend(q, k, v, mask=mask).context
    torch.testing.assert_close(
        attend(q, k, v, mask=mask, dropout_p=0.0, need_weights=need_weights).context, expected, rtol=1e-12, atol=1e-12
    )
    n = 20000  # many copies of the same inputs, each with its own dropout draw
    q, k, v = (t.expand(n, -1, -1, -1) for t in (q, k, v))
    out = attend(q, k, v, mask=mask, dropout_p=0.3, need_weights=need_weights)
    assert not out.context.isnan().any() and (out.context[:, :, 2] == 0).all()
    assert not torch.allclose(out.context[0], out.context[1])  # different draws per example
    torch.testing.assert_close(out.context.mean(0, keepdim=True), expected, rtol=0, atol=0.05)
    if need_weights:  # the returned weights are those used: 0 or softmax / (1 - p)
        kept = out.weights != 0
        plain = attend(q[:1], k[:1], v[:1], mask=mask).weights
        torch.testing.assert_close(out.weights[kept], (plain / 0.7).expand_as(out.weights)[kept])
        torch.testing.assert_close(out.weights @ v, out.context)
