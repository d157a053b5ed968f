"""attend(): explicit vs fused path, vs torch SDPA, registries, custom and weighted scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from attnkit.functional import NORMALISERS, SCORES, attend, masked_softmax, score

F64 = torch.float64


def _qkv(*lead: int, tq: int = 4, tk: int = 5, d: int = 8, dv: int = 6):
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(*lead, tq, d, dtype=F64, generator=g),
        torch.randn(*lead, tk, d, dtype=F64, generator=g),
        torch.randn(*lead, tk, dv, dtype=F64, generator=g),
    )


def _loop_attention(scores: torch.Tensor, mask: torch.Tensor | None, v: torch.Tensor):
    """Independent (Tq, Tk) x (Tk, Dv) softmax attention with Python loops; masked rows -> 0."""
    tq, tk = scores.shape
    ctx = torch.zeros(tq, v.shape[-1], dtype=F64)
    w = torch.zeros(tq, tk, dtype=F64)
    for i in range(tq):
        keep = [j for j in range(tk) if mask is None or bool(mask[i, j])]
        if not keep:
            continue
        m = max(scores[i, j].item() for j in keep)
        z = sum(math.exp(scores[i, j].item() - m) for j in keep)
        for j in keep:
            w[i, j] = math.exp(scores[i, j].item() - m) / z
            ctx[i] += w[i, j] * v[j]
    return ctx, w


def _masks(b: int, nh: int, tq: int, tk: int):
    g = torch.Generator().manual_seed(2)
    random = torch.rand(b, nh, tq, tk, generator=g) > 0.5
    random[0, 0, 1] = False  # fully-masked row
    padding = torch.tensor([True] * tk).repeat(b, 1)
    padding[0, 2:] = False
    padding[1] = False  # a fully padded example
    return {
        "none": None,
        "random_with_empty_row": random,
        "padding_(B,1,1,Tk)": padding[:, None, None, :],
        "causal_(1,Tq,Tk)": torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq)[None],
        "(1,Tk)": torch.tensor([[True, False] * (tk // 2) + [True] * (tk % 2)]),
        "(B,Nh,Tq,1)": torch.tensor([True, False]).repeat(b, nh, tq // 2 + 1)[..., :tq, None],
    }


_MASK_NAMES = list(_masks(2, 3, 4, 5))


@pytest.mark.parametrize("mask_name", _MASK_NAMES)
@pytest.mark.parametrize("score_name, kwargs", [("dot", {}), ("scaled_dot", {}), ("scaled_dot", {"scale": 0.7})])
def test_fused_and_explicit_paths_agree(score_name, kwargs, mask_name, monkeypatch):
    q, k, v = _qkv(2, 3)
    mask = _masks(2, 3, 4, 5)[mask_name]
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **kw: calls.append(1) or sdpa(*a, **kw))
    explicit = attend(q, k, v, score=score_name, mask=mask, score_kwargs=kwargs)
    assert not calls
    fused = attend(q, k, v, score=score_name, mask=mask, score_kwargs=kwargs, need_weights=False)
    assert calls, "need_weights=False with a (scaled) dot score should take the fused path"
    assert fused.weights is None and explicit.weights is not None
    assert not fused.context.isnan().any()
    torch.testing.assert_close(fused.context, explicit.context, rtol=1e-12, atol=1e-12)
    if mask is not None:
        empty = ~mask.expand(2, 3, 4, 5).any(-1)  # rows with no key
        assert (fused.context[empty] == 0).all() and (explicit.context[empty] == 0).all()


@st.composite
def _attention_inputs(draw):
    lead = draw(st.lists(st.integers(1, 2), max_size=2))
    tq, tk, d, dv = (draw(st.integers(1, 4)) for _ in range(4))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    q = torch.randn(*lead, tq, d, dtype=F64, generator=g) * 3
    k = torch.randn(*lead, tk, d, dtype=F64, generator=g) * 3
    v = torch.randn(*lead, tk, dv, dtype=F64, generator=g)
    mask_shape = tuple(n if draw(st.booleans()) else 1 for n in (*lead, tq)) + (tk,)
    mask = torch.from_numpy(draw(arrays(np.bool_, mask_shape)))
    return q, k, v, mask


@settings(max_examples=50, deadline=None)
@given(inputs=_attention_inputs(), score_name=st.sampled_from(["dot", "scaled_dot"]))
def test_fused_and_explicit_paths_agree_on_random_masks(inputs, score_name):
    q, k, v, mask = inputs
    explicit = attend(q, k, v, score=score_name, mask=mask).context
    fused = attend(q, k, v, score=score_name, mask=mask, need_weights=False).context
    assert not fused.isnan().any()
    torch.testing.assert_close(fused, explicit, rtol=1e-10, atol=1e-12)


def test_fused_path_accepts_a_1d_key_mask_like_explicit():
    q, k, v = _qkv(2, 3)
    mask = torch.tensor([True, True, False, True, False])  # (Tk,)
    explicit = attend(q, k, v, mask=mask).context
    fused = attend(q, k, v, mask=mask, need_weights=False).context
    torch.testing.assert_close(fused, explicit, rtol=1e-12, atol=1e-12)


def test_fused_path_broadcasts_leading_dims_like_explicit():
    q = torch.randn(2, 3, 4, 8, dtype=F64)  # (B, Nh, Tq, D)
    k, v = torch.randn(2, 1, 5, 8, dtype=F64), torch.randn(2, 1, 5, 8, dtype=F64)
    mask = torch.rand(2, 1, 1, 5) > 0.5
    explicit = attend(q, k, v, mask=mask).context
    fused = attend(q, k, v, mask=mask, need_weights=False).context
    assert fused.shape == explicit.shape == (2, 3, 4, 8)
    torch.testing.assert_close(fused, explicit, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("need_weights", [True, False])
def test_attend_matches_torch_sdpa_when_every_row_has_a_key(need_weights):
    q, k, v = _qkv(2, 3)
    mask = torch.rand(2, 3, 4, 5) > 0.4
    mask[..., 0] = True  # SDPA returns NaN for rows with no key
    ours = attend(q, k, v, mask=mask, need_weights=need_weights).context
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    ours_dot = attend(q, k, v, score="dot", mask=mask, need_weights=need_weights).context
    torch.testing.assert_close(ours_dot, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0))


def test_attend_matches_loop_and_returns_normalised_weights():
    q, k, v = _qkv(2, tq=3, tk=5, d=4, dv=2)
    mask = torch.rand(2, 3, 5) > 0.5
    mask[1, 0] = False
    out = attend(q, k, v, mask=mask)
    for b in range(2):
        scores = torch.tensor(
            [[sum(q[b, i, d].item() * k[b, j, d].item() for d in range(4)) / 2.0 for j in range(5)] for i in range(3)],
            dtype=F64,
        )
        ctx, w = _loop_attention(scores, mask[b], v[b])
        torch.testing.assert_close(out.context[b], ctx)
        torch.testing.assert_close(out.weights[b], w)


def test_fully_masked_rows_give_zero_context_and_finite_gradients_on_both_paths():
    q, k, v = (t.requires_grad_() for t in _qkv(2))
    mask = torch.ones(2, 4, 5, dtype=torch.bool)
    mask[0, 2] = False
    mask[1] = False
    for need_weights in (True, False):
        out = attend(q, k, v, mask=mask, need_weights=need_weights)
        assert (out.context[0, 2] == 0).all() and (out.context[1] == 0).all()
        grads = torch.autograd.grad(out.context.sum(), (q, k, v))
        assert all(torch.isfinite(g).all() for g in grads)


def test_general_score_via_score_kwargs():
    q, k, v = _qkv(2, tq=3, tk=4, d=5, dv=2)
    q = q[..., :3]  # Dq = 3, Dk = 5
    w = torch.randn(3, 5, dtype=F64)
    out = attend(q, k, v, score="general", score_kwargs={"weight": w})
    for b in range(2):
        scores = torch.tensor(
            [
                [
                    sum(q[b, i, a].item() * w[a, c].item() * k[b, j, c].item() for a in range(3) for c in range(5))
                    for j in range(4)
                ]
                for i in range(3)
            ],
            dtype=F64,
        )
        ctx, weights = _loop_attention(scores, None, v[b])
        torch.testing.assert_close(out.context[b], ctx)
        torch.testing.assert_close(out.weights[b], weights)
    # need_weights=False cannot fuse a general score: same numbers through the explicit path
    torch.testing.assert_close(
        attend(q, k, v, score="general", score_kwargs={"weight": w}, need_weights=False).context, out.context
    )


def test_additive_score_via_attend_matches_a_per_pair_loop():
    # e_ij = v_a . tanh(W_a q_i + U_a k_j)   [Bahdanau15] Eq. 6; attend gets the projected inputs
    q, k, v = _qkv(2, tq=3, tk=4, d=5)
    g = torch.Generator().manual_seed(2)
    w_q, w_k = torch.randn(6, 5, dtype=F64, generator=g), torch.randn(6, 5, dtype=F64, generator=g)
    energy = torch.randn(6, dtype=F64, generator=g)
    mask = torch.tensor([[True, True, True, True], [True, False, True, False]])  # (B, Tk) padding
    out = attend(q @ w_q.T, k @ w_k.T, v, score="additive", score_kwargs={"energy": energy}, mask=mask[:, None, :])
    for b in range(2):
        scores = torch.zeros(3, 4, dtype=F64)
        for i in range(3):
            for j in range(4):
                for a in range(6):
                    pre = sum(
                        w_q[a, d].item() * q[b, i, d].item() + w_k[a, d].item() * k[b, j, d].item() for d in range(5)
                    )
                    scores[i, j] += energy[a].item() * math.tanh(pre)
        ctx, w = _loop_attention(scores, mask[b].expand(3, 4), v[b])
        torch.testing.assert_close(out.context[b], ctx)
        torch.testing.assert_close(out.weights[b], w)


def test_cosine_score_via_attend():
    q, k, v = _qkv(2, tq=3, tk=4, d=5)
    out = attend(q, k, v, score="cosine")
    qn, kn = q / q.norm(dim=-1, keepdim=True), k / k.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(out.weights, torch.softmax(qn @ kn.transpose(-1, -2), dim=-1))


def test_location_score_via_attend():
    # attend calls score_fn(query, key, **score_kwargs); "location" scores Tk = key.shape[-2].
    q, k, v = _qkv(2, tq=3, tk=4, d=5)
    w = torch.randn(7, 5, dtype=F64)  # W_a for up to 7 source positions
    out = attend(q, k, v, score="location", score_kwargs={"weight": w})
    torch.testing.assert_close(out.weights, torch.softmax(q @ w[:4].T, dim=-1))


def test_callable_score_and_normaliser():
    q, k, v = _qkv(2, tq=3, tk=4, d=5)

    def neg_sq_dist(a, b, *, gamma):
        return -gamma * ((a.unsqueeze(-2) - b.unsqueeze(-3)) ** 2).sum(-1)

    out = attend(q, k, v, score=neg_sq_dist, score_kwargs={"gamma": 0.5})
    for b in range(2):
        scores = torch.tensor(
            [
                [-0.5 * sum((q[b, i, d].item() - k[b, j, d].item()) ** 2 for d in range(5)) for j in range(4)]
                for i in range(3)
            ],
            dtype=F64,
        )
        ctx, w = _loop_attention(scores, None, v[b])
        torch.testing.assert_close(out.context[b], ctx)
        torch.testing.assert_close(out.weights[b], w)
    # a callable score is never fused, even with need_weights=False
    torch.testing.assert_close(
        attend(q, k, v, score=score.dot, need_weights=False).context, attend(q, k, v, score="dot").context
    )
    uniform = attend(q, k, v, normalise=lambda s, m: torch.full_like(s, 1 / s.shape[-1]))
    torch.testing.assert_close(uniform.context, v.mean(-2, keepdim=True).expand(2, 3, 6))


def test_unknown_score_name_lists_valid_names():
    q, k, v = _qkv(1)
    with pytest.raises(ValueError, match="unknown score function 'bogus'") as info:
        attend(q, k, v, score="bogus")
    for name in ("dot", "scaled_dot", "general", "additive", "location", "cosine"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="bogus"):
        attend(q, k, v, score="bogus", need_weights=False)


def test_unknown_normaliser_name_lists_valid_names():
    q, k, v = _qkv(1)
    for need_weights in (True, False):
        with pytest.raises(ValueError, match="unknown normaliser 'sparsemaxx'.*softmax"):
            attend(q, k, v, normalise="sparsemaxx", need_weights=need_weights)


def test_registries_hold_the_documented_entries():
    assert SCORES.names() == ["dot", "scaled_dot", "general", "additive", "location", "cosine", "location_aware"]
    assert NORMALISERS.get("softmax") is masked_softmax
    assert all(entry.reference for entry in SCORES)
    assert "dot" in SCORES and "nope" not in SCORES


@pytest.mark.parametrize("need_weights", [True, False])
def test_mask_errors_on_both_paths(need_weights):
    q, k, v = _qkv(2)
    with pytest.raises(TypeError, match="torch.bool"):
        attend(q, k, v, mask=torch.ones(2, 4, 5), need_weights=need_weights)
    with pytest.raises(ValueError, match="does not broadcast"):
        attend(q, k, v, mask=torch.ones(2, 4, 6, dtype=torch.bool), need_weights=need_weights)


@pytest.mark.parametrize("need_weights", [True, False])
def test_width_mismatch_raises_on_both_paths(need_weights):
    q, k, v = _qkv(2)
    with pytest.raises(ValueError, match="Dq=3 and Dk=8"):
        attend(q[..., :3], k, v, need_weights=need_weights)
