"""Blocked sliding-window attention [Beltagy20] against dense attention under the window mask, both
written out here: outputs, weights and gradients within 1e-6 in float64, padding, global tokens."""

from __future__ import annotations

import pytest
import torch

from attnkit.functional.efficient import ATTENTION_KERNELS
from attnkit.functional.window import window_attention, window_mask

F64 = torch.float64


def _reference_mask(t: int, w: int, causal: bool, g: int) -> torch.Tensor:
    """The documented rule, by loops: |i - j| <= w (0 <= i - j <= w when causal), or i or j global."""
    mask = torch.zeros(t, t, dtype=torch.bool)
    for i in range(t):
        for j in range(t):
            near = (0 <= i - j <= w) if causal else abs(i - j) <= w
            mask[i, j] = (near or i < g or (j < g and (j <= i or not causal))) and (j <= i or not causal)
    return mask


def _dense_reference(q, k, v, allowed):
    """softmax(q k^T / sqrt(Dh)) over the allowed keys (B, Nh|1, Tq, Tk); rows without keys -> 0."""
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # rows with no key: NaN -> 0
    return weights @ v, weights


def _inputs(b, nh, t, dh, dv, requires_grad=False):
    g = torch.Generator().manual_seed(t * 31 + dh)
    q, k = (torch.randn(b, nh, t, dh, dtype=F64, generator=g) for _ in range(2))
    v = torch.randn(b, nh, t, dv, dtype=F64, generator=g)
    return [x.requires_grad_(requires_grad) for x in (q, k, v)]


def _padding(b, t):
    pad = torch.ones(b, t, dtype=torch.bool)
    pad[1, t - 3 :] = False  # a shorter example
    if b > 2:
        pad[2] = False  # an example with no real token at all
    return pad


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("g", [0, 2])
@pytest.mark.parametrize(("t", "w"), [(11, 3), (12, 4), (5, 8), (9, 1), (16, 16)])
def test_window_equals_dense_attention_under_the_window_mask(causal, g, t, w):
    q, k, v = _inputs(3, 2, t, 4, 5)
    pad = _padding(3, t)
    out, weights = window_attention(
        q, k, v, key_padding=pad, causal=causal, need_weights=True, window=w, global_tokens=g
    )
    allowed = _reference_mask(t, w, causal, g)[None, None] & pad[:, None, None, :]
    ref_out, ref_weights = _dense_reference(q, k, v, allowed)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, ref_weights, atol=1e-6, rtol=0)
    assert (weights[~allowed.expand_as(weights)] == 0).all()  # outside the window and padded keys: exactly 0
    assert not out.isnan().any() and (out[2] == 0).all()  # no real key: 0, not NaN


def test_window_mask_is_the_documented_rule():
    for causal in (False, True):
        for g in (0, 1, 3):
            assert torch.equal(window_mask(10, 2, causal=causal, global_tokens=g), _reference_mask(10, 2, causal, g))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("g", [0, 1])
def test_window_gradients_equal_the_dense_reference(causal, g):
    t, w = 10, 3
    pad = _padding(2, t)
    allowed = _reference_mask(t, w, causal, g)[None, None] & pad[:, None, None, :]
    grads = []
    for fn in (
        lambda q, k, v: window_attention(
            q, k, v, key_padding=pad, causal=causal, need_weights=False, window=w, global_tokens=g
        )[0],
        lambda q, k, v: _dense_reference(q, k, v, allowed)[0],
    ):
        q, k, v = _inputs(2, 2, t, 4, 3, requires_grad=True)
        out = fn(q, k, v)
        (out * torch.linspace(-1, 1, out.numel(), dtype=F64).view_as(out)).sum().backward()
        grads.append([x.grad for x in (q, k, v)])
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_window_gradcheck(causal):
    q, k, v = _inputs(1, 1, 7, 3, 2, requires_grad=True)
    pad = torch.tensor([[True] * 6 + [False]])
    assert torch.autograd.gradcheck(
        lambda q, k, v: window_attention(
            q, k, v, key_padding=pad, causal=causal, need_weights=False, window=2, global_tokens=1
        )[0],
        (q, k, v),
    )


def test_window_at_least_the_length_is_full_attention():
    q, k, v = _inputs(2, 2, 6, 4, 4)
    out, _ = window_attention(q, k, v, key_padding=None, causal=False, need_weights=False, window=6)
    ref, _ = _dense_reference(q, k, v, torch.ones(6, 6, dtype=torch.bool))
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


def test_window_query_without_a_key_in_its_window_gives_zero():
    q, k, v = _inputs(1, 1, 8, 4, 4)
    pad = torch.tensor([[False, False, False, True, True, True, True, True]])
    out, weights = window_attention(q, k, v, key_padding=pad, causal=True, need_weights=True, window=1)
    assert (out[0, 0, :3] == 0).all() and (weights[0, 0, :3] == 0).all()  # keys 0..2 padded, none else allowed
    assert torch.allclose(weights[0, 0, 3:].sum(-1), torch.ones(5, dtype=F64))


def test_window_dropout_has_an_effect_and_keeps_masked_weights_zero():
    q, k, v = _inputs(1, 2, 12, 4, 4)
    torch.manual_seed(1)
    out, weights = window_attention(q, k, v, key_padding=None, causal=False, need_weights=True, window=2, dropout_p=0.5)
    plain, _ = window_attention(q, k, v, key_padding=None, causal=False, need_weights=False, window=2)
    assert not torch.allclose(out, plain)
    assert (weights[..., ~_reference_mask(12, 2, False, 0)] == 0).all()
    torch.testing.assert_close(out, weights @ v)


def test_window_kernel_is_registered_and_refuses_bad_options():
    kernel = ATTENTION_KERNELS.get("window")
    q, k, v = _inputs(1, 1, 6, 4, 4)
    with pytest.raises(ValueError, match="needs the option"):
        kernel(q, k, v)
    with pytest.raises(ValueError, match="window must be an int >= 1"):
        kernel(q, k, v, window=0)
    with pytest.raises(ValueError, match="Tq == Tk"):
        kernel(q[:, :, :3], k, v, window=2)
    with pytest.raises(ValueError, match="chunk_size"):
        kernel(q, k, v, window=2, chunk_size=4)
