"""Linear attention [Katharopoulos20] against its quadratic form and its per-position cumulative-sum
form, both written out here: bidirectional, causal in chunks, gradients, padding, in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnkit.functional.efficient import ATTENTION_KERNELS
from attnkit.functional.linear import linear_attention

F64 = torch.float64


def phi(x):
    return F.elu(x) + 1  # Eq. 7


def _quadratic(q, k, v, pad, causal):
    """Eq. 4-6 in quadratic form: A = phi(Q) phi(K)^T over allowed keys, rows normalised."""
    sims = phi(q) @ phi(k).transpose(-1, -2)  # (B, Nh, Tq, Tk)
    if pad is not None:
        sims = sims * pad[:, None, None, :]
    if causal:
        sims = sims.tril()
    den = sims.sum(-1, keepdim=True)
    weights = torch.where(den > 0, sims / den.where(den > 0, torch.ones_like(den)), torch.zeros_like(sims))
    return weights @ v, weights


def _cumsum(q, k, v, pad):
    """Eq. 8-10, unchunked: S_i = sum_{j<=i} phi(k_j) v_j^T, z_i = sum_{j<=i} phi(k_j), per position."""
    fk = phi(k) if pad is None else phi(k) * pad[:, None, :, None]
    s = torch.cumsum(fk[..., :, None] * v[..., None, :], dim=2)  # (B, Nh, T, Dh, Dv)
    z = torch.cumsum(fk, dim=2)  # (B, Nh, T, Dh)
    num = torch.einsum("bhtf,bhtfd->bhtd", phi(q), s)
    den = torch.einsum("bhtf,bhtf->bht", phi(q), z)[..., None]
    return torch.where(den > 0, num / den.where(den > 0, torch.ones_like(den)), torch.zeros_like(num))


def _inputs(b, nh, tq, tk, dh, dv, requires_grad=False):
    g = torch.Generator().manual_seed(tq * 7 + tk)
    q = torch.randn(b, nh, tq, dh, dtype=F64, generator=g)
    k = torch.randn(b, nh, tk, dh, dtype=F64, generator=g)
    v = torch.randn(b, nh, tk, dv, dtype=F64, generator=g)
    return [x.requires_grad_(requires_grad) for x in (q, k, v)]


def _padding(t):
    pad = torch.ones(3, t, dtype=torch.bool)
    pad[1, t - 3 :] = False
    pad[2] = False  # no real key
    return pad


@pytest.mark.parametrize(("tq", "tk"), [(9, 9), (4, 11)])
def test_bidirectional_equals_the_quadratic_form(tq, tk):
    q, k, v = _inputs(3, 2, tq, tk, 4, 5)
    pad = _padding(tk)
    out, weights = linear_attention(q, k, v, key_padding=pad, causal=False, need_weights=True)
    ref_out, ref_weights = _quadratic(q, k, v, pad, causal=False)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, ref_weights, atol=1e-6, rtol=0)
    assert (weights[1, :, :, tk - 3 :] == 0).all() and (out[2] == 0).all() and not out.isnan().any()


@pytest.mark.parametrize("chunk", [1, 3, 4, 16])
def test_causal_chunked_equals_the_cumsum_form_and_the_quadratic_form(chunk):
    t = 12
    q, k, v = _inputs(3, 2, t, t, 4, 3)
    pad = _padding(t)
    out, weights = linear_attention(q, k, v, key_padding=pad, causal=True, need_weights=True, chunk_size=chunk)
    quad_out, quad_weights = _quadratic(q, k, v, pad, causal=True)
    torch.testing.assert_close(out, _cumsum(q, k, v, pad), atol=1e-6, rtol=0)
    torch.testing.assert_close(out, quad_out, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, quad_weights, atol=1e-6, rtol=0)
    assert (weights.triu(1) == 0).all() and (out[2] == 0).all()


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_equal_the_quadratic_form(causal):
    t = 10
    pad = _padding(t)[:2]
    grads = []
    for fn in (
        lambda q, k, v: linear_attention(q, k, v, key_padding=pad, causal=causal, need_weights=False, chunk_size=3)[0],
        lambda q, k, v: _quadratic(q, k, v, pad, causal)[0],
    ):
        q, k, v = _inputs(2, 2, t, t, 4, 3, requires_grad=True)
        out = fn(q, k, v)
        (out * torch.linspace(-1, 1, out.numel(), dtype=F64).view_as(out)).sum().backward()
        grads.append([x.grad for x in (q, k, v)])
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(causal):
    q, k, v = _inputs(2, 1, 6, 6, 3, 2, requires_grad=True)
    pad = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    assert torch.autograd.gradcheck(
        lambda q, k, v: linear_attention(q, k, v, key_padding=pad, causal=causal, need_weights=False, chunk_size=4)[0],
        (q, k, v),
    )


def test_fully_padded_example_has_finite_gradients():
    q, k, v = _inputs(3, 1, 5, 5, 3, 2, requires_grad=True)
    out, _ = linear_attention(q, k, v, key_padding=_padding(5), causal=True, need_weights=False, chunk_size=2)
    out.sum().backward()
    assert all(torch.isfinite(x.grad).all() for x in (q, k, v))


def test_linear_kernel_is_registered_and_refuses_bad_options():
    kernel = ATTENTION_KERNELS.get("linear")
    assert not kernel.exact
    q, k, v = _inputs(1, 1, 4, 6, 3, 3)
    with pytest.raises(ValueError, match="Tq == Tk"):
        kernel(q, k, v, causal=True)
    with pytest.raises(ValueError, match="chunk_size must be"):
        kernel(q, k, v, chunk_size=0)
    with pytest.raises(ValueError, match="window"):
        kernel(q, k, v, window=3)
