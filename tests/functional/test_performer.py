"""Performer FAVOR+ [Choromanski21]: checked against dense softmax attention written out here, and
against its own estimator computed densely (the quadratic form)."""

from __future__ import annotations

import math

import pytest
import torch

from attnkit.errors import ConfigError, InputError
from attnkit.functional import performer
from attnkit.functional.efficient import ATTENTION_KERNELS
from attnkit.functional.performer import draw_orthogonal_features, performer_attention, positive_random_features

F64 = torch.float64


def _qkv(b: int, nh: int, tq: int, tk: int, dh: int, *, scale: float = 0.5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, nh, tq, dh, dtype=F64, generator=g) * scale
    k = torch.randn(b, nh, tk, dh, dtype=F64, generator=g) * scale
    v = torch.randn(b, nh, tk, dh, dtype=F64, generator=g)
    return q, k, v


def _dense_softmax(q, k, v, key_padding=None, causal=False):
    """Softmax attention written plainly: exp(q.k / sqrt(Dh)) normalised over the allowed keys."""
    tq, tk = q.shape[2], k.shape[2]
    allowed = torch.ones(q.shape[0], 1, tq, tk, dtype=torch.bool)
    if key_padding is not None:
        allowed = allowed & key_padding[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq)
    a = torch.exp(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])) * allowed
    return (a / a.sum(-1, keepdim=True)) @ v


def _quadratic_estimator(q, k, v, w, key_padding=None, causal=False):
    """The FAVOR+ estimator with the dense map written out: A_ij = phi(q_i).phi(k_j) (Lemma 1)."""
    dh = q.shape[-1]
    m = w.shape[0]

    def phi(x):
        x = x * dh**-0.25
        return torch.exp(x @ w.T - (x * x).sum(-1, keepdim=True) / 2) / math.sqrt(m)

    a = phi(q) @ phi(k).transpose(-1, -2)
    tq, tk = q.shape[2], k.shape[2]
    if key_padding is not None:
        a = a * key_padding[:, None, None, :]
    if causal:
        a = a * torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq)
    return (a / a.sum(-1, keepdim=True)) @ v


def _errors_by_features(sizes, n_draws=4):
    q, k, v = _qkv(2, 2, 64, 64, 16)
    ref = _dense_softmax(q, k, v)
    errors = []
    for m in sizes:
        draws = [(performer_attention(q, k, v, num_features=m, seed=s)[0] - ref).abs().mean() for s in range(n_draws)]
        errors.append(float(torch.stack(draws).mean()))
    return errors


def test_converges_to_dense_softmax_as_features_grow():
    sizes = (16, 64, 256, 1024, 4096)
    errors = _errors_by_features(sizes)  # mean |out - dense| over 4 draws: ~1/sqrt(M)
    assert all(a > b for a, b in zip(errors, errors[1:])), dict(zip(sizes, errors))
    assert errors[-1] < 0.01, dict(zip(sizes, errors))
    assert errors[0] / errors[-1] > 4  # 256x the features: the Monte Carlo rate sqrt(256) = 16, measured ~10


def test_kernel_estimate_is_unbiased():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, dtype=F64, generator=g) * 0.6
    y = torch.randn(8, dtype=F64, generator=g) * 0.6
    exact = math.exp(float(x @ y))
    n = 20000  # independent draws of one orthogonal block of 8 features each
    w = draw_orthogonal_features(8 * n, 8, generator=g)  # blocks are independent
    products = positive_random_features(x, w) * positive_random_features(y, w) * (8 * n)  # M phi_i(x) phi_i(y)
    estimates = products.reshape(n, 8).mean(-1)  # phi(x).phi(y) of each 8-feature draw
    stderr = float(estimates.std()) / math.sqrt(n)
    assert abs(float(estimates.mean()) - exact) < 4 * stderr
    assert stderr < 0.01 * exact  # the bound is tight enough to catch a bias of a few percent


def test_orthogonal_blocks_and_gaussian_norms():
    w = draw_orthogonal_features(20, 8, generator=torch.Generator().manual_seed(0))
    assert w.shape == (20, 8)
    for block in (w[:8], w[8:16]):
        gram = block @ block.T
        torch.testing.assert_close(gram - torch.diag(torch.diagonal(gram)), torch.zeros(8, 8, dtype=F64))
    many = draw_orthogonal_features(40000, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(many.T @ many / 40000, torch.eye(8, dtype=F64), atol=0.03, rtol=0)  # E[w w^T] = I


@pytest.mark.parametrize("causal", [False, True])
def test_equals_its_quadratic_form(causal):
    q, k, v = _qkv(2, 3, 300, 300, 8)  # 300 > CAUSAL_CHUNK: several chunks of the prefix sum
    pad = torch.ones(2, 300, dtype=torch.bool)
    pad[1, 250:] = False
    w = draw_orthogonal_features(32, 8, generator=torch.Generator().manual_seed(3))
    ours, _ = performer_attention(q, k, v, key_padding=pad, causal=causal, projection=w)
    ref = _quadratic_estimator(q, k, v, w, key_padding=pad, causal=causal)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_causal_with_earlier_keys_equals_quadratic_form():
    q, k, v = _qkv(1, 2, 7, 12, 4)  # the queries are the last 7 of 12 positions (a cache)
    w = draw_orthogonal_features(16, 4, generator=torch.Generator().manual_seed(0))
    ours, _ = performer_attention(q, k, v, causal=True, projection=w)
    torch.testing.assert_close(ours, _quadratic_estimator(q, k, v, w, causal=True), atol=1e-6, rtol=0)


def test_causal_does_not_see_the_future():
    q, k, v = _qkv(1, 2, 20, 20, 4)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 12:] += 3.0
    v2[:, :, 12:] -= 1.0
    a, _ = performer_attention(q, k, v, causal=True)
    b, _ = performer_attention(q, k2, v2, causal=True)
    torch.testing.assert_close(a[:, :, :12], b[:, :, :12], atol=1e-10, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_implied_weights(causal):
    q, k, v = _qkv(2, 2, 9, 9, 4)
    pad = torch.ones(2, 9, dtype=torch.bool)
    pad[0, 6:] = False
    out, weights = performer_attention(q, k, v, key_padding=pad, causal=causal, need_weights=True)
    assert weights is not None and weights.shape == (2, 2, 9, 9)
    assert bool((weights >= 0).all())
    assert bool((weights[0, :, :, 6:] == 0).all())  # padded keys: exactly 0
    if causal:
        assert bool((weights.triu(1) == 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 9, dtype=F64))
    torch.testing.assert_close(weights @ v, out)


def test_padding_contributes_nothing_and_never_nan():
    q, k, v = _qkv(2, 2, 6, 6, 4)
    pad = torch.tensor([[True] * 4 + [False] * 2, [False] * 6])
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 4:] = 1e4  # would overflow exp if it were used
    v2[0, :, 4:] = float("nan")
    for causal in (False, True):
        a, wa = performer_attention(q, k, v, key_padding=pad, causal=causal, need_weights=True)
        b, _ = performer_attention(q, k2, torch.nan_to_num(v2), key_padding=pad, causal=causal)
        torch.testing.assert_close(a, b)
        alone, _ = performer_attention(q[:1], k[:1, :, :4], v[:1, :, :4], causal=False)
        if not causal:
            torch.testing.assert_close(a[:1], alone)
        assert wa is not None and bool(torch.isfinite(wa).all())
        assert bool((a[1] == 0).all())  # no real key at all: output 0, not NaN
        assert bool((wa[1] == 0).all())


def test_large_logits_stay_finite_in_float32():
    q, k, v = _qkv(1, 2, 16, 16, 8, scale=6.0)
    out, weights = performer_attention(q.float(), k.float(), v.float(), need_weights=True, causal=True)
    assert out.dtype == torch.float32 and bool(torch.isfinite(out).all())
    assert weights is not None and bool(torch.isfinite(weights).all())


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_with_fixed_features(causal):
    q, k, v = (x.requires_grad_() for x in _qkv(1, 1, 4, 4, 3))
    w = draw_orthogonal_features(5, 3, generator=torch.Generator().manual_seed(0))
    pad = torch.tensor([[True, True, True, False]])
    assert torch.autograd.gradcheck(
        lambda q, k, v: performer_attention(q, k, v, key_padding=pad, causal=causal, projection=w)[0], (q, k, v)
    )


def test_fixed_features_and_redraw():
    q, k, v = _qkv(1, 2, 8, 8, 4)
    a, _ = performer_attention(q, k, v, num_features=8, seed=3)
    b, _ = performer_attention(q, k, v, num_features=8, seed=3)
    c, _ = performer_attention(q, k, v, num_features=8, seed=4)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.allclose(a, c)
    d, _ = performer_attention(q, k, v, num_features=8, redraw=True)
    e, _ = performer_attention(q, k, v, num_features=8, redraw=True)
    assert not torch.allclose(d, e)  # new features each call


def test_registered_kernel_and_errors():
    kernel = ATTENTION_KERNELS.get("performer")
    assert not kernel.exact and set(kernel.options) == {"num_features", "redraw", "seed"}
    q, k, v = _qkv(1, 2, 5, 5, 4)
    out, _ = kernel(q, k, v, causal=True, num_features=16)
    torch.testing.assert_close(out, performer_attention(q, k, v, causal=True, num_features=16)[0])
    with pytest.raises(ConfigError, match="num_features"):
        performer_attention(q, k, v, num_features=0)
    with pytest.raises(InputError, match="Tk >= Tq"):
        performer_attention(q, k[:, :, :3], v[:, :, :3], causal=True)
    with pytest.raises(ConfigError, match="projection"):
        performer_attention(q, k, v, projection=torch.randn(4, 3, dtype=F64))
    assert performer.CAUSAL_CHUNK < 300


def test_trains_inside_multihead_attention():
    from attnkit.nn.multihead import MultiHeadAttention

    layer = MultiHeadAttention(16, 4, causal=True, kernel="performer", kernel_options={"num_features": 32})
    x, target = torch.randn(4, 12, 16), torch.randn(4, 12, 16)
    pad = torch.ones(4, 12, dtype=torch.bool)
    pad[2, 8:] = False
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((layer(x, mask=pad).output - target) ** 2)[pad].mean()
        loss.backward()
        assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in layer.parameters())
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.9 * losses[0]
