"""MultiHeadAttention(kernel=...): the efficient kernels inside the module, against the dense module
with the same weights and against the formulas written out here; the default stays the dense path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnkit.nn.multihead import MultiHeadAttention

F64 = torch.float64


def _pair(kernel: str, options: dict, **kwargs):
    """A dense layer and a copy of its weights using `kernel` (float64)."""
    dense = MultiHeadAttention(16, 4, **kwargs).double()
    other = MultiHeadAttention(16, 4, kernel=kernel, kernel_options=options, **kwargs).double()
    other.load_state_dict(dense.state_dict())
    return dense.eval(), other.eval()


def _x(b=3, t=10):
    x = torch.randn(b, t, 16, dtype=F64)
    pad = torch.ones(b, t, dtype=torch.bool)
    pad[1, 7:] = False
    return x, pad


def test_kernel_changes_no_parameter_names():
    dense, window = _pair("window", {"window": 2})
    assert list(dense.state_dict()) == list(window.state_dict())


@pytest.mark.parametrize("num_kv_heads", [None, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_window_as_wide_as_the_input_equals_the_dense_layer(num_kv_heads, causal):
    dense, window = _pair("window", {"window": 10}, num_kv_heads=num_kv_heads, causal=causal)
    x, pad = _x()
    ours = window(x, mask=pad, need_weights=True)
    ref = dense(x, mask=pad, need_weights=True)
    torch.testing.assert_close(ours.output, ref.output, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.weights, ref.weights, atol=1e-6, rtol=0)


def test_narrow_window_equals_the_dense_layer_with_the_window_mask():
    dense, window = _pair("window", {"window": 2, "global_tokens": 1})
    x, pad = _x()
    i, j = torch.arange(10)[:, None], torch.arange(10)[None, :]
    band = ((i - j).abs() <= 2) | (i < 1) | (j < 1)  # the documented window, written out
    mask = band[None, None] & pad[:, None, None, :]  # (B, 1, T, T)
    torch.testing.assert_close(window(x, mask=pad).output, dense(x, mask=mask).output, atol=1e-6, rtol=0)


def test_torch_key_padding_mask_reaches_the_kernel():
    _, window = _pair("window", {"window": 3})
    x, pad = _x()
    torch.testing.assert_close(window(x, key_padding_mask=~pad).output, window(x, mask=pad).output)


def test_linear_kernel_is_the_formula_on_the_layer_projections():
    layer = MultiHeadAttention(16, 4, kernel="linear", kernel_options={"chunk_size": 3}, causal=True).double()
    x, pad = _x()
    q, k, v = F.linear(x, layer.in_proj.weight, layer.in_proj.bias).split(16, dim=-1)
    q, k, v = (y.view(3, 10, 4, 4).transpose(1, 2) for y in (q, k, v))  # (B, Nh, T, Dh)
    sims = ((F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-1, -2)).tril() * pad[:, None, None, :]
    context = (sims / sims.sum(-1, keepdim=True)) @ v  # Eq. 6 with the causal sums, (B, Nh, T, Dh)
    ref = layer.out_proj(context.transpose(1, 2).reshape(3, 10, 16))
    torch.testing.assert_close(layer(x, mask=pad).output, ref, atol=1e-6, rtol=0)


def test_causal_window_layer_does_not_leak_the_future():
    layer = MultiHeadAttention(16, 4, causal=True, kernel="window", kernel_options={"window": 3}).eval()
    x = torch.randn(1, 9, 16)
    y = x.clone()
    y[:, 6:] += 1.0
    torch.testing.assert_close(layer(x).output[:, :6], layer(y).output[:, :6])


def test_window_layer_dropout_applies_in_training_only():
    layer = MultiHeadAttention(16, 4, dropout=0.5, kernel="window", kernel_options={"window": 2})
    x = torch.randn(2, 8, 16)
    assert not torch.allclose(layer.train()(x).output, layer.eval()(x).output)
    torch.testing.assert_close(layer.eval()(x).output, layer.eval()(x).output)


def test_window_layer_trains():
    layer = MultiHeadAttention(16, 4, kernel="window", kernel_options={"window": 2})
    x, pad = _x()
    layer(x.float(), mask=pad).output.pow(2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel": "windw"}, "did you mean 'window'"),
        ({"kernel": "window"}, "needs kernel_options window"),
        ({"kernel": "window", "kernel_options": {"window": 2, "chunk_size": 4}}, "takes no option chunk_size"),
        ({"kernel": "linear", "dropout": 0.1}, "no attention weights to drop"),
        ({"kernel": "dense", "kernel_options": {"window": 2}}, "dense kernel takes no kernel_options"),
        ({"kernel": "window", "kernel_options": {"window": 2, "dropout_p": 0.1}}, "pass dropout="),
    ],
)
def test_construction_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(16, 4, **kwargs)


def test_call_errors_name_the_dense_kernel():
    layer = MultiHeadAttention(16, 4, kernel="window", kernel_options={"window": 2})
    x = torch.randn(2, 6, 16)
    with pytest.raises(ValueError, match="only a \\(B, Tk\\) padding mask"):
        layer(x, mask=torch.ones(2, 6, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="takes no bias"):
        layer(x, bias=torch.zeros(4, 6, 6))
    with pytest.raises(ValueError, match="Tq == Tk"):
        layer(x, key=torch.randn(2, 5, 16))
