"""MultiHeadAttention vs torch.nn.MultiheadAttention and an einsum reference; KV cache; GQA."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnkit.functional import causal_mask, padding_mask
from attnkit.nn.multihead import KVCache, MHAOutput, MultiHeadAttention

F64 = torch.float64
B, D, NH = 2, 16, 4


def _randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and biases everywhere (default biases are zero, which would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.4)
    return module


def _x(*shape: int, dtype=F64, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _weights(layer: MultiHeadAttention):
    """(Wq, bq), (Wk, bk), (Wv, bv) of either layout; zero biases when there are none."""
    if layer.in_proj is not None:
        sizes = [layer.d_model, layer.kv_dim, layer.kv_dim]
        ws = layer.in_proj.weight.split(sizes)
        bs = layer.in_proj.bias.split(sizes) if layer.in_proj.bias is not None else None
    else:
        projs = (layer.q_proj, layer.k_proj, layer.v_proj)
        ws = [p.weight for p in projs]
        bs = [p.bias for p in projs] if layer.q_proj.bias is not None else None
    bs = bs or [torch.zeros(w.shape[0], dtype=w.dtype) for w in ws]
    return list(zip(ws, bs))


def _reference(layer, query, key=None, value=None, mask=None, bias=None):
    """[Vaswani17] Eq. 1 and Sec. 3.2.2 from the layer's weights with einsum; K/V heads repeated.

    mask: boolean (B, Nh|1, Tq, Tk), True = may attend (the layer's causal flag included here).
    """
    key = query if key is None else key
    value = key if value is None else value
    (wq, bq), (wk, bk), (wv, bv) = _weights(layer)
    nh, nkv, dh = layer.n_heads, layer.num_kv_heads, layer.head_dim
    q = (query @ wq.T + bq).unflatten(-1, (nh, dh))  # (B, Tq, Nh, Dh)
    k = (key @ wk.T + bk).unflatten(-1, (nkv, dh))  # (B, Tk, Nkv, Dh)
    v = (value @ wv.T + bv).unflatten(-1, (nkv, dh))
    heads = [h // (nh // nkv) for h in range(nh)]  # key/value head read by query head h
    k, v = k[:, :, heads], v[:, :, heads]  # (B, Tk, Nh, Dh)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dh)
    if bias is not None:
        scores = scores + bias
    allowed = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.expand_as(scores)
    exp = torch.where(allowed, (scores - scores.amax(-1, keepdim=True)).exp(), 0.0)
    total = exp.sum(-1, keepdim=True)
    weights = torch.where(total > 0, exp / total.clamp_min(1e-300), 0.0)  # (B, Nh, Tq, Tk)
    context = torch.einsum("bhqk,bkhd->bqhd", weights, v).flatten(2)  # (B, Tq, D)
    return context @ layer.out_proj.weight.T + layer.out_proj.bias, weights


# --- against torch.nn.MultiheadAttention -----------------------------------------------------

_CASES = {  # name: (kdim, vdim, Tq, Tk, self-attention)
    "self": (D, D, 5, 5, True),
    "cross_same_width": (D, D, 4, 6, False),  # torch packs in_proj_weight, key != query
    "cross_kdim_vdim": (6, 5, 4, 6, False),  # torch uses separate q/k/v_proj_weight
}


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("masking", ["none", "padding", "causal", "causal_as_mask", "both"])
@pytest.mark.parametrize("case", list(_CASES))
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (F64, 1e-10)])
def test_matches_torch_multihead_attention(case, masking, need_weights, dtype, tol):
    kdim, vdim, tq, tk, is_self = _CASES[case]
    mha = _randomise(nn.MultiheadAttention(D, NH, batch_first=True, kdim=kdim, vdim=vdim, dtype=dtype)).eval()
    causal = masking in ("causal", "both")
    layer = MultiHeadAttention.from_torch(mha, causal=causal).eval()
    assert (layer.in_proj is not None) == (kdim == vdim == D)
    query = _x(B, tq, D, dtype=dtype)
    key, value = (
        (query, query) if is_self else (_x(B, tk, kdim, dtype=dtype, seed=2), _x(B, tk, vdim, dtype=dtype, seed=3))
    )
    keep = padding_mask(torch.tensor([tk, tk - 2]), tk) if masking in ("padding", "both") else None
    attn = ~causal_mask(tq, tk) if masking in ("causal", "causal_as_mask", "both") else None
    expected, expected_w = mha(
        query,
        key,
        value,
        key_padding_mask=None if keep is None else ~keep,
        attn_mask=attn,
        need_weights=True,
        average_attn_weights=False,
    )
    mask = causal_mask(tq, tk)[None] if masking == "causal_as_mask" else keep
    out = layer(query, None if is_self else key, None if is_self else value, mask=mask, need_weights=need_weights)
    torch.testing.assert_close(out.output, expected, rtol=tol, atol=tol)
    if need_weights:
        assert out.weights.shape == (B, NH, tq, tk)
        torch.testing.assert_close(out.weights, expected_w, rtol=tol, atol=tol)
    else:
        assert out.weights is None
    assert out.cache is None


def test_from_torch_without_bias_and_unsupported_options():
    mha = _randomise(nn.MultiheadAttention(D, NH, bias=False, batch_first=False, dtype=F64))
    layer = MultiHeadAttention.from_torch(mha)
    assert layer.in_proj.bias is None and layer.out_proj.bias is None
    x = _x(B, 5, D)
    expected = mha(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1))[0].transpose(0, 1)
    torch.testing.assert_close(layer(x).output, expected, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="add_bias_kv"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(D, NH, add_bias_kv=True))
    with pytest.raises(ValueError, match="add_zero_attn"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(D, NH, add_zero_attn=True))


# --- paths, masks, references -----------------------------------------------------------------


def _layer(**kwargs) -> MultiHeadAttention:
    return _randomise(MultiHeadAttention(D, NH, **kwargs).to(F64)).eval()


@pytest.mark.parametrize("num_kv_heads", [1, 2, 4])
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_gqa_and_mqa_match_einsum_reference_with_repeated_kv_heads(num_kv_heads, packed, causal):
    layer = _layer(num_kv_heads=num_kv_heads, packed=packed, causal=causal)
    kv_width = num_kv_heads * (D // NH)
    if packed:
        assert layer.in_proj.weight.shape == (D + 2 * kv_width, D)
    else:
        assert layer.k_proj.weight.shape == layer.v_proj.weight.shape == (kv_width, D)
    x = _x(B, 5, D)
    keep = padding_mask(torch.tensor([5, 3]), 5)[:, None, None, :]  # (B, 1, 1, T)
    allowed = keep & causal_mask(5) if causal else keep
    expected, weights = _reference(layer, x, mask=allowed)
    for need_weights in (False, True):
        out = layer(x, mask=keep[:, 0, 0], need_weights=need_weights)
        torch.testing.assert_close(out.output, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out.weights, weights, rtol=1e-10, atol=1e-10)


def test_mqa_heads_share_keys_and_gqa_groups_share_keys():
    layer = _layer(num_kv_heads=2)
    x = _x(B, 5, D)
    q = layer.q_proj(x).unflatten(-1, (NH, -1)).transpose(1, 2)
    w = layer(x, need_weights=True).weights
    # heads 0, 1 read key head 0; heads 2, 3 read key head 1 (checked through the scores)
    k = layer.k_proj(x).unflatten(-1, (2, -1)).transpose(1, 2)
    for h in range(NH):
        scores = q[:, h] @ k[:, h // 2].transpose(-1, -2) / math.sqrt(D // NH)
        torch.testing.assert_close(w[:, h], scores.softmax(-1), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mask_shape", ["(B,Tk)", "(B,Tq,Tk)", "(1,Tq,Tk)", "(B,Nh,Tq,Tk)"])
def test_mask_shapes_and_paths_agree(mask_shape):
    layer = _layer()
    x = _x(B, 5, D)
    g = torch.Generator().manual_seed(4)
    full = {
        "(B,Tk)": lambda: (torch.rand(B, 5, generator=g) > 0.3)[:, None, None],
        "(B,Tq,Tk)": lambda: (torch.rand(B, 5, 5, generator=g) > 0.3)[:, None],
        "(1,Tq,Tk)": lambda: (torch.rand(1, 5, 5, generator=g) > 0.3)[:, None],
        "(B,Nh,Tq,Tk)": lambda: torch.rand(B, NH, 5, 5, generator=g) > 0.3,
    }[mask_shape]()
    mask = full.squeeze(1) if mask_shape != "(B,Nh,Tq,Tk)" else full
    mask = mask.squeeze(1) if mask_shape == "(B,Tk)" else mask
    expected, weights = _reference(layer, x, mask=full)
    fused, explicit = layer(x, mask=mask), layer(x, mask=mask, need_weights=True)
    torch.testing.assert_close(fused.output, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(explicit.output, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(explicit.weights, weights, rtol=1e-10, atol=1e-10)


def test_fully_masked_rows_give_out_proj_bias_and_zero_weights_on_both_paths():
    layer = _layer(causal=True)
    x = _x(B, 5, D).requires_grad_()
    mask = torch.ones(B, 5, 5, dtype=torch.bool)
    mask[0, 2] = False  # query 2 of example 0 may attend nothing
    mask[1] = False  # example 1 may attend nothing
    for need_weights in (False, True):
        out = layer(x, mask=mask, need_weights=need_weights)
        assert not out.output.isnan().any()
        bias = layer.out_proj.bias.expand(5, D)
        torch.testing.assert_close(out.output[1], bias, rtol=0, atol=0)
        torch.testing.assert_close(out.output[0, 2], bias[0], rtol=0, atol=0)
        assert not torch.allclose(out.output[0, 1], bias[0])
        grad = torch.autograd.grad(out.output.sum(), x)[0]
        assert torch.isfinite(grad).all()
    assert (out.weights[1] == 0).all() and (out.weights[0, :, 2] == 0).all()
    torch.testing.assert_close(out.weights[0, :, [0, 1, 3, 4]].sum(-1), torch.ones(NH, 4, dtype=F64))


def test_additive_bias_matches_reference_on_both_paths():
    layer = _layer(causal=True)
    x = _x(B, 5, D)
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625], dtype=F64)[:, None, None]
    alibi = -slopes * (torch.arange(5)[:, None] - torch.arange(5)[None, :]).abs()  # (Nh, Tq, Tk)
    expected, weights = _reference(layer, x, mask=causal_mask(5), bias=alibi)
    for need_weights in (False, True):
        out = layer(x, bias=alibi, need_weights=need_weights)
        torch.testing.assert_close(out.output, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out.weights, weights, rtol=1e-10, atol=1e-10)
    assert not torch.allclose(out.output, layer(x).output)


def test_average_weights_is_the_mean_over_heads():
    layer = _layer()
    x = _x(B, 5, D)
    per_head = layer(x, need_weights=True).weights
    averaged = layer(x, need_weights=True, average_weights=True)
    assert averaged.weights.shape == (B, 5, 5)
    torch.testing.assert_close(averaged.weights, per_head.mean(1))
    assert not torch.allclose(per_head[:, 0], per_head[:, 1])


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("kind", ["cross", "self_causal"])
def test_gradcheck_float64(kind, need_weights):
    kdim = 3 if kind == "cross" else None
    layer = _randomise(MultiHeadAttention(4, 2, kdim=kdim, causal=kind == "self_causal").to(F64))
    query = _x(2, 3, 4).requires_grad_()
    if kind == "self_causal":
        mask = torch.tensor([[True, True, False], [True, True, True]])

        def fn(query):
            return layer(query, mask=mask, need_weights=need_weights).output

        assert torch.autograd.gradcheck(fn, (query,))
        return
    key, value = _x(2, 4, 3, seed=2).requires_grad_(), _x(2, 4, 4, seed=3).requires_grad_()
    mask = torch.tensor([[True, False, True, True], [False, False, False, False]])

    def fn(query, key, value):
        return layer(query, key, value, mask=mask, need_weights=need_weights).output

    assert torch.autograd.gradcheck(fn, (query, key, value))


# --- KV cache and memory ---------------------------------------------------------------------


class _FakeRotary:
    """Rotates each pair (x_2i, x_2i+1) by angle pos * (i + 1) / 3 and records the offsets."""

    def __init__(self) -> None:
        self.offsets: list[int] = []

    def rotate(self, x: torch.Tensor, offset: int) -> torch.Tensor:
        self.offsets.append(offset)
        pos = torch.arange(offset, offset + x.shape[-2], dtype=x.dtype)  # (T,)
        angle = pos[:, None] * torch.arange(1, x.shape[-1] // 2 + 1, dtype=x.dtype) / 3
        cos, sin = angle.cos(), angle.sin()  # (T, Dh/2)
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)


@pytest.mark.parametrize("chunk", [1, 2])
@pytest.mark.parametrize("num_kv_heads", [4, 2, 1])
def test_kv_cache_decoding_matches_full_causal_forward(chunk, num_kv_heads):
    rotary = _FakeRotary()
    layer = _layer(num_kv_heads=num_kv_heads, causal=True, rotary=rotary)
    x = _x(B, 5, D)
    keep = padding_mask(torch.tensor([5, 4]), 5)  # (B, T); example 1 ends with padding
    full = layer(x, mask=keep, need_weights=True)
    rotary.offsets.clear()
    cache, outputs = None, []
    for start in range(0, 5, chunk):
        stop = min(start + chunk, 5)
        step = layer(x[:, start:stop], mask=keep[:, :stop], cache=cache, use_cache=True, need_weights=start % 2 == 0)
        fused = layer(x[:, start:stop], mask=keep[:, :stop], cache=cache)
        torch.testing.assert_close(fused.output, step.output, rtol=1e-10, atol=1e-10)
        cache = step.cache
        assert cache.keys.shape == cache.values.shape == (B, num_kv_heads, stop, D // NH)
        outputs.append(step.output)
        if step.weights is not None:
            torch.testing.assert_close(step.weights, full.weights[:, :, start:stop, :stop])
    torch.testing.assert_close(torch.cat(outputs, 1), full.output, rtol=1e-10, atol=1e-10)
    starts = list(range(0, 5, chunk))
    assert rotary.offsets == [o for s in starts for o in (s, s, s, s)]  # q, k; twice per step


def test_rotary_gets_offset_zero_without_cache_and_changes_the_output():
    rotary = _FakeRotary()
    layer = _layer(causal=True, rotary=rotary)
    x = _x(B, 5, D)
    with_rope = layer(x).output
    assert rotary.offsets == [0, 0]
    layer.rotary = None
    assert not torch.allclose(with_rope, layer(x).output)


def test_empty_cache_and_returned_cache_contents():
    layer = _layer(num_kv_heads=2, causal=True)
    x = _x(B, 3, D)
    empty = KVCache(torch.zeros(B, 2, 0, D // NH, dtype=F64), torch.zeros(B, 2, 0, D // NH, dtype=F64))
    from_empty = layer(x, cache=empty)
    started = layer(x, use_cache=True)
    torch.testing.assert_close(from_empty.output, layer(x).output)
    torch.testing.assert_close(from_empty.cache.keys, started.cache.keys)
    keys = layer.k_proj(x).unflatten(-1, (2, -1)).transpose(1, 2)  # (B, Nkv, T, Dh)
    torch.testing.assert_close(started.cache.keys, keys)
    assert layer(x).cache is None


def test_cross_attention_memory_is_reused_as_is():
    layer = _layer(kdim=6, vdim=6)
    x, enc = _x(B, 4, D), _x(B, 7, 6, seed=2)
    keep = padding_mask(torch.tensor([7, 5]), 7)
    direct = layer(x, enc, mask=keep, use_cache=True)
    memory = layer.project_memory(enc)
    assert memory.keys.shape == (B, NH, 7, D // NH)
    torch.testing.assert_close(direct.cache.keys, memory.keys)
    torch.testing.assert_close(direct.cache.values, memory.values)
    for need_weights in (False, True):
        reused = layer(x, memory=memory, mask=keep, need_weights=need_weights)
        torch.testing.assert_close(reused.output, direct.output, rtol=1e-12, atol=1e-12)
    for t in range(4):  # one decoder step at a time, same encoder memory
        step = layer(x[:, t : t + 1], memory=memory, mask=keep)
        torch.testing.assert_close(step.output, direct.output[:, t : t + 1])
    expected, _ = _reference(layer, x, enc, enc, mask=keep[:, None, None])
    torch.testing.assert_close(direct.output, expected)


# --- properties ------------------------------------------------------------------------------


def test_future_positions_do_not_leak():
    layer = _layer(causal=True)
    x = _x(1, 6, D)
    y = x.clone()
    y[:, 4:] += 1.0  # perturb only positions 4 and 5
    for need_weights in (False, True):
        out_x, out_y = layer(x, need_weights=need_weights), layer(y, need_weights=need_weights)
        torch.testing.assert_close(out_x.output[:, :4], out_y.output[:, :4])
        assert not torch.allclose(out_x.output[:, 4:], out_y.output[:, 4:])


def test_self_attention_is_permutation_equivariant():
    layer = _layer(num_kv_heads=2)
    x = _x(B, 6, D)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    for need_weights in (False, True):
        out = layer(x, need_weights=need_weights).output
        torch.testing.assert_close(layer(x[:, perm], need_weights=need_weights).output, out[:, perm])


@pytest.mark.parametrize("kwargs", [{}, {"num_kv_heads": 2}, {"kdim": 6, "vdim": 5}])
def test_every_parameter_gets_a_finite_gradient(kwargs):
    layer = _layer(**kwargs).train()
    x = _x(B, 4, D)
    kv = _x(B, 5, kwargs["kdim"], seed=2) if "kdim" in kwargs else None
    vv = _x(B, 5, kwargs["vdim"], seed=3) if "vdim" in kwargs else None
    layer(x, kv, vv).output.square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_dropout_only_in_training_mode():
    layer = _layer(dropout=0.5)
    plain = _layer(dropout=0.0)
    x = _x(B, 5, D)
    torch.testing.assert_close(layer(x).output, plain(x).output, rtol=0, atol=0)  # eval
    torch.testing.assert_close(layer(x, need_weights=True).output, layer(x).output)
    layer.train()
    for need_weights in (False, True):
        a, b = layer(x, need_weights=need_weights).output, layer(x, need_weights=need_weights).output
        assert not torch.allclose(a, b) and not torch.allclose(a, plain(x).output)


def test_options_change_the_layout():
    assert {n for n, _ in MultiHeadAttention(D, NH).named_parameters()} == {
        "in_proj.weight",
        "in_proj.bias",
        "out_proj.weight",
        "out_proj.bias",
    }
    separate = MultiHeadAttention(D, NH, packed=False, bias=False)
    assert {n for n, _ in separate.named_parameters()} == {
        "q_proj.weight",
        "k_proj.weight",
        "v_proj.weight",
        "out_proj.weight",
    }
    assert MultiHeadAttention(D, NH, num_kv_heads=2).in_proj is None  # GQA: separate by default
    assert MultiHeadAttention(D, NH, kdim=6).in_proj is None
    x = torch.zeros(B, 3, D)
    assert (separate(x).output == 0).all()  # no biases anywhere
    assert isinstance(separate(x), MHAOutput)


def test_packed_and_separate_layouts_compute_the_same_function():
    packed = _layer(packed=True)
    separate = _layer(packed=False)
    with torch.no_grad():
        w, b = packed.in_proj.weight.chunk(3), packed.in_proj.bias.chunk(3)
        for proj, wi, bi in zip((separate.q_proj, separate.k_proj, separate.v_proj), w, b):
            proj.weight.copy_(wi), proj.bias.copy_(bi)
        separate.out_proj.load_state_dict(packed.out_proj.state_dict())
    x, enc = _x(B, 4, D), _x(B, 6, D, seed=2)
    torch.testing.assert_close(packed(x).output, separate(x).output)
    torch.testing.assert_close(packed(x, enc).output, separate(x, enc).output)


# --- errors ----------------------------------------------------------------------------------


def test_constructor_errors():
    with pytest.raises(ValueError, match="d_model must be divisible by n_heads.*d_model=10"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="n_heads must be divisible by num_kv_heads.*=3"):
        MultiHeadAttention(D, NH, num_kv_heads=3)
    with pytest.raises(ValueError, match="packed=True needs kdim"):
        MultiHeadAttention(D, NH, kdim=6, packed=True)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(D, NH, dropout=1.5)


def test_forward_errors():
    layer = _layer(kdim=6, vdim=6)
    x, enc = _x(B, 5, D), _x(B, 7, 6)
    with pytest.raises(ValueError, match=r"query must be \(B, Tq, D\) with last dim 16, got \(2, 5, 8\)"):
        layer(x[..., :8])
    with pytest.raises(ValueError, match=r"key must be \(B, Tk, Dk\) with last dim 6, got \(2, 7, 5\)"):
        layer(x, enc[..., :5])
    with pytest.raises(ValueError, match="same batch size"):
        layer(x, enc[:1])
    with pytest.raises(ValueError, match="self-attention needs kdim = vdim = d_model = 16, got kdim=6"):
        layer(x)
    with pytest.raises(ValueError, match="value given without key"):
        layer(x, value=x)
    with pytest.raises(TypeError, match="torch.bool.*got torch.float64"):
        layer(x, enc, mask=torch.ones(B, 7, dtype=F64))
    with pytest.raises(ValueError, match=r"mask of shape \(5, 5\) does not broadcast to scores \(2, 4, 5, 7\)"):
        layer(x, enc, mask=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask of shape"):
        layer(x, enc, mask=torch.ones(7, dtype=torch.bool))
    with pytest.raises(ValueError, match="average_weights=True needs need_weights=True"):
        layer(x, enc, average_weights=True)
    memory = layer.project_memory(enc)
    with pytest.raises(ValueError, match="either key/value or"):
        layer(x, enc, memory=memory)
    with pytest.raises(ValueError, match="cache= extends self-attention"):
        layer(x, enc, cache=memory)
    with pytest.raises(ValueError, match=r"memory keys and values must be .*\(1, 4, T, 4\)"):
        layer(x[:1], memory=memory)
    self_layer = _layer(rotary=_FakeRotary())
    with pytest.raises(ValueError, match=r"cache keys and values must be .*got \(2, 4, 3, 2\)"):
        self_layer(x, cache=KVCache(torch.zeros(B, NH, 3, 2), torch.zeros(B, NH, 3, 2)))
    with pytest.raises(ValueError, match="rotary embeddings apply to self-attention only"):
        self_layer(x, x)
    with pytest.raises(TypeError, match="bias must be a floating-point"):
        layer(x, enc, bias=torch.ones(5, 7, dtype=torch.bool))
