"""The fused output projection + cross-entropy equals F.linear + F.cross_entropy, in value and
gradient, with padding and label smoothing, in float64, float32 and under bfloat16 autocast."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.losses.fused import linear_cross_entropy


def _data(n, d, v, dtype, seed=0, pad_share=0.3):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True)
    w = (torch.randn(v, d, generator=g, dtype=dtype) * d**-0.5).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_()
    y = torch.randint(1, v, (n,), generator=g)
    y[torch.rand(n, generator=g) < pad_share] = 0
    return h, w, b, y


def _reference(h, w, b, y, eps):
    return F.cross_entropy(F.linear(h, w, b), y, ignore_index=0, label_smoothing=eps, reduction="sum")


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 40),
    v=st.integers(2, 30),
    eps=st.sampled_from([0.0, 0.1, 0.5]),
    chunk=st.integers(1, 16),
    seed=st.integers(0, 10_000),
    pad=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_value_and_gradients_equal_the_plain_loss_in_float64(n, v, eps, chunk, seed, pad):
    h, w, b, y = _data(n, 6, v, torch.float64, seed, pad)
    got = linear_cross_entropy(h, w, b, y, ignore_index=0, label_smoothing=eps, chunk=chunk)
    want = _reference(h, w, b, y, eps)
    torch.testing.assert_close(got, want)
    grads = torch.autograd.grad(got * 1.7, (h, w, b))
    wants = torch.autograd.grad(want * 1.7, (h, w, b))
    for a, e in zip(grads, wants):
        torch.testing.assert_close(a, e)


@pytest.mark.parametrize("rows", [1, 2, 5])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_softmax_slices_of_a_few_rows_give_the_same_value_and_gradients(monkeypatch, rows, dtype):
    """The softmax runs in slices of rows that fit the cache; with a cache of `rows` rows a chunk
    spans several slices, the last one partial, with and without bias and smoothing."""
    import attnkit.losses.fused as fused

    v = 11
    monkeypatch.setattr(fused, "_CACHE_BYTES", rows * v * torch.finfo(dtype).bits // 8)
    for eps, bias, pad in ((0.0, True, 0.0), (0.1, True, 0.3), (0.2, False, 0.3)):
        h, w, b, y = _data(23, 6, v, dtype, seed=rows, pad_share=pad)
        b_or_none = b if bias else None
        got = linear_cross_entropy(h, w, b_or_none, y, ignore_index=0, label_smoothing=eps, chunk=9)
        want = F.cross_entropy(F.linear(h, w, b_or_none), y, ignore_index=0, label_smoothing=eps, reduction="sum")
        torch.testing.assert_close(got, want)
        inputs = (h, w, b) if bias else (h, w)
        for a, e in zip(torch.autograd.grad(got, inputs), torch.autograd.grad(want, inputs)):
            torch.testing.assert_close(a, e)


def test_gradcheck_float64():
    h, w, b, y = _data(7, 5, 9, torch.float64)
    h.data[0, 0] = 0.3
    assert torch.autograd.gradcheck(
        lambda h, w, b: linear_cross_entropy(h, w, b, y, ignore_index=0, label_smoothing=0.1, chunk=3),
        (h, w, b),
        eps=1e-6,
        atol=1e-5,
    )


def test_under_bf16_autocast_it_matches_autocast_linear_and_float32_loss():
    h, w, b, y = _data(300, 64, 500, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(h, w, b, y, ignore_index=0, label_smoothing=0.1, chunk=128)
        logits = F.linear(h, w, b)
    want = F.cross_entropy(logits.float(), y, ignore_index=0, label_smoothing=0.1, reduction="sum")
    torch.testing.assert_close(got, want, rtol=2e-3, atol=1e-2)
    gh, gw = torch.autograd.grad(got, (h, w))
    eh, ew = torch.autograd.grad(want, (h, w))
    assert gh.dtype == torch.float32 and gw.dtype == torch.float32
    for a, e in ((gh, eh), (gw, ew)):
        assert (a - e).norm() / e.norm() < 2e-2


def test_shape_and_smoothing_errors():
    h, w, b, y = _data(4, 3, 5, torch.float32)
    with pytest.raises(ValueError, match="need hidden"):
        linear_cross_entropy(h, w[:, :2], b, y)
    with pytest.raises(ValueError, match="label_smoothing"):
        linear_cross_entropy(h, w, b, y, label_smoothing=1.0)
