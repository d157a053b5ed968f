"""Nyströmformer [Xiong21]: checked against dense softmax attention and the paper's three-matrix
product written out here (with an SVD pseudo-inverse)."""

from __future__ import annotations

import math

import pytest
import torch

from attnkit.errors import ConfigError, InputError
from attnkit.functional.efficient import ATTENTION_KERNELS
from attnkit.functional.nystrom import iterative_pinv, nystrom_attention

F64 = torch.float64


def _qkv(b: int, nh: int, tq: int, tk: int, dh: int, *, scale: float = 0.5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, nh, tq, dh, dtype=F64, generator=g) * scale
    k = torch.randn(b, nh, tk, dh, dtype=F64, generator=g) * scale
    v = torch.randn(b, nh, tk, dh, dtype=F64, generator=g)
    return q, k, v


def _dense_softmax(q, k, v, key_padding=None):
    a = torch.exp(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]))
    if key_padding is not None:
        a = a * key_padding[:, None, None, :]
    return (a / a.sum(-1, keepdim=True)) @ v


def _nystrom_by_hand(q, k, v, m):
    """The paper's form for T divisible by m, no padding, exact pinv: segment means, three softmaxes."""
    b, nh, t, dh = q.shape
    ql = q.reshape(b, nh, m, t // m, dh).mean(3)
    kl = k.reshape(b, nh, m, t // m, dh).mean(3)
    s = dh**-0.5
    f = torch.softmax(q @ kl.transpose(-1, -2) * s, -1)
    a = torch.softmax(ql @ kl.transpose(-1, -2) * s, -1)
    bm = torch.softmax(ql @ k.transpose(-1, -2) * s, -1)
    return f @ torch.linalg.pinv(a) @ bm @ v


@pytest.mark.parametrize("pinv_iterations", [None, 30])
def test_landmarks_equal_to_length_is_dense(pinv_iterations):
    q, k, v = _qkv(2, 2, 32, 32, 8)
    out, _ = nystrom_attention(q, k, v, num_landmarks=32, pinv_iterations=pinv_iterations)
    torch.testing.assert_close(out, _dense_softmax(q, k, v), atol=1e-6, rtol=0)


def test_matches_the_paper_product_written_out():
    q, k, v = _qkv(2, 2, 24, 24, 8)
    out, _ = nystrom_attention(q, k, v, num_landmarks=6, pinv_iterations=None)
    torch.testing.assert_close(out, _nystrom_by_hand(q, k, v, 6))


def _errors_by_landmarks(sizes, pinv_iterations):
    q, k, v = _qkv(2, 2, 64, 64, 16)
    ref = _dense_softmax(q, k, v)
    errors = []
    for m in sizes:
        out, _ = nystrom_attention(q, k, v, num_landmarks=m, pinv_iterations=pinv_iterations)
        errors.append(float((out - ref).abs().mean()))
    return errors


def test_converges_to_dense_softmax_as_landmarks_grow():
    sizes = (4, 8, 16, 32, 64)
    errors = _errors_by_landmarks(sizes, 6)  # the paper's 6 iterations of the pseudo-inverse
    assert all(a > b for a, b in zip(errors, errors[1:])), dict(zip(sizes, errors))
    assert errors[-1] < 0.01, dict(zip(sizes, errors))  # m = T: left is the error of 6 iterations only


def test_iterative_pinv_converges_to_moore_penrose():
    g = torch.Generator().manual_seed(0)
    a = torch.softmax(torch.randn(3, 10, 10, dtype=F64, generator=g), -1)
    exact = torch.linalg.pinv(a)
    errs = [float((iterative_pinv(a, n) - exact).abs().max()) for n in (2, 6, 12, 25)]
    assert errs[-1] < 1e-8 and errs[0] > errs[-1], errs
    singular = torch.zeros(4, 4, dtype=F64)
    singular[:2, :2] = a[0, :2, :2]  # a zero block stays zero (empty landmarks)
    torch.testing.assert_close(iterative_pinv(singular, 40), torch.linalg.pinv(singular))
    assert bool((iterative_pinv(torch.zeros(3, 3), 6) == 0).all())


def test_padded_batch_equals_each_example_alone():
    q, k, v = _qkv(2, 2, 20, 20, 8)
    pad = torch.ones(2, 20, dtype=torch.bool)
    pad[1, 13:] = False
    out, weights = nystrom_attention(q, k, v, key_padding=pad, num_landmarks=4, need_weights=True)
    alone, _ = nystrom_attention(q[1:, :, :13], k[1:, :, :13], v[1:, :, :13], num_landmarks=4)
    torch.testing.assert_close(out[1:, :, :13], alone)
    assert weights is not None and bool((weights[1, :, :, 13:] == 0).all())
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 13:] = 1e4
    v2[1, :, 13:] = -7.0
    again, _ = nystrom_attention(q, k2, v2, key_padding=pad, num_landmarks=4)
    torch.testing.assert_close(again[1, :, :13], out[1, :, :13])


def test_fewer_real_keys_than_landmarks_is_dense_and_never_nan():
    q, k, v = _qkv(2, 2, 12, 12, 4)
    pad = torch.zeros(2, 12, dtype=torch.bool)
    pad[0, :5] = True  # 5 real keys, 8 landmarks: empty segments are masked out
    out, weights = nystrom_attention(q, k, v, key_padding=pad, num_landmarks=8, pinv_iterations=None, need_weights=True)
    torch.testing.assert_close(out[0, :, :5], _dense_softmax(q, k, v, pad)[0, :, :5], atol=1e-6, rtol=0)
    assert bool(torch.isfinite(out).all()) and weights is not None and bool(torch.isfinite(weights).all())
    assert bool((out[1] == 0).all())  # no real key: output 0
    iterative, _ = nystrom_attention(q, k, v, key_padding=pad, num_landmarks=8)
    assert bool(torch.isfinite(iterative).all())


def test_cross_attention_uneven_segments():
    q, k, v = _qkv(1, 2, 7, 30, 8)  # Tq != Tk, 30 keys in 4 segments of 7 or 8
    out, weights = nystrom_attention(q, k, v, num_landmarks=4, pinv_iterations=None, need_weights=True)
    assert out.shape == (1, 2, 7, 8) and weights is not None
    torch.testing.assert_close(weights @ v, out)
    exact, _ = nystrom_attention(q, k, v, num_landmarks=30, pinv_iterations=None)
    assert float((exact - _dense_softmax(q, k, v)).abs().max()) < float((out - _dense_softmax(q, k, v)).abs().max())


def test_implied_weights_and_row_sums():
    q, k, v = _qkv(1, 2, 16, 16, 8)
    out, weights = nystrom_attention(q, k, v, num_landmarks=16, pinv_iterations=None, need_weights=True)
    assert weights is not None
    torch.testing.assert_close(weights @ v, out)
    # A invertible and pinv exact: A 1 = 1 gives A^-1 1 = 1, so rows sum to 1 (not guaranteed otherwise)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, 16, dtype=F64))
    _, approx = nystrom_attention(q, k, v, num_landmarks=4, need_weights=True)
    assert approx is not None and bool(torch.isfinite(approx).all())


def test_depthwise_conv_skip_matches_a_loop():
    q, k, v = _qkv(1, 2, 9, 9, 3)
    pad = torch.ones(1, 9, dtype=torch.bool)
    pad[0, 7:] = False
    conv = torch.randn(2, 1, 3, dtype=F64)
    base, _ = nystrom_attention(q, k, v, key_padding=pad, num_landmarks=3)
    out, weights = nystrom_attention(q, k, v, key_padding=pad, num_landmarks=3, conv_weight=conv, need_weights=True)
    skip = torch.zeros_like(out)
    for h in range(2):
        for i in range(9):
            for j in range(max(0, i - 1), min(9, i + 2)):
                skip[0, h, i] += conv[h, 0, j - i + 1] * v[0, h, j] * pad[0, j]
    torch.testing.assert_close(out, base + skip)
    assert weights is not None
    torch.testing.assert_close(weights @ v, out)


def test_gradcheck():
    q, k, v = (x.requires_grad_() for x in _qkv(1, 1, 5, 5, 2))
    pad = torch.tensor([[True] * 4 + [False]])
    assert torch.autograd.gradcheck(
        lambda q, k, v: nystrom_attention(q, k, v, key_padding=pad, num_landmarks=2)[0], (q, k, v)
    )


def test_registered_kernel_and_errors():
    kernel = ATTENTION_KERNELS.get("nystrom")
    assert not kernel.exact and set(kernel.options) == {"num_landmarks", "pinv_iterations"}
    q, k, v = _qkv(1, 2, 8, 8, 4)
    out, _ = kernel(q, k, v, num_landmarks=4)
    torch.testing.assert_close(out, nystrom_attention(q, k, v, num_landmarks=4)[0])
    with pytest.raises(InputError, match="no causal form"):
        kernel(q, k, v, causal=True, num_landmarks=4)
    with pytest.raises(ConfigError, match="num_landmarks"):
        nystrom_attention(q, k, v, num_landmarks=0)
    with pytest.raises(ConfigError, match="pinv_iterations"):
        nystrom_attention(q, k, v, pinv_iterations=-1)
    with pytest.raises(ConfigError, match="conv_weight"):
        nystrom_attention(q, k, v, conv_weight=torch.randn(2, 1, 4, dtype=F64))


def test_inside_multihead_attention_equals_the_dense_layer_with_landmarks_equal_to_length():
    from attnkit.nn.multihead import MultiHeadAttention

    dense = MultiHeadAttention(16, 4).double().eval()
    nys = MultiHeadAttention(16, 4, kernel="nystrom", kernel_options={"num_landmarks": 10, "pinv_iterations": 40})
    nys = nys.double().eval()
    nys.load_state_dict(dense.state_dict())
    x = torch.randn(3, 10, 16, dtype=F64)
    pad = torch.ones(3, 10, dtype=torch.bool)
    pad[1, 7:] = False
    ours, ref = nys(x, mask=pad), dense(x, mask=pad)
    torch.testing.assert_close(ours.output[0], ref.output[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.output[1, :7], ref.output[1, :7], atol=1e-6, rtol=0)  # padded queries: any
