"""PyTorch's mask names on MultiHeadAttention: a from_torch copy called as torch is called gives
torch.nn.MultiheadAttention's output and weights (issue 31, item 5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnkit.nn.multihead import MultiHeadAttention

B, D, NH, TQ, TK = 3, 16, 4, 5, 6


def _randomise(module: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.4)
    return module


def _x(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _masks(kind: str, tq: int, tk: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """torch-convention masks (True = ignore / not allowed; float = added); no row fully masked."""
    g = torch.Generator().manual_seed(7)
    lengths = torch.tensor([tk, tk - 2, tk - 1])
    pad = torch.arange(tk)[None, :] >= lengths[:, None]  # (B, Tk) True = padding
    causal = torch.ones(tq, tk, dtype=torch.bool).triu(1 + tk - tq)  # (Tq, Tk) True = future
    per_head = torch.rand(B * NH, tq, tk, generator=g) > 0.6
    per_head[..., 0] = False  # the first key stays visible everywhere
    additive = (torch.randn(tq, tk, generator=g) * 0.5).to(dtype)
    additive_inf = additive.masked_fill(causal, float("-inf"))
    return {
        "none": {},
        "kpm": {"key_padding_mask": pad},
        "kpm_float": {"key_padding_mask": (pad.to(dtype) * -3.0)},
        "attn_2d": {"attn_mask": causal},
        "attn_3d": {"attn_mask": per_head},
        "attn_float": {"attn_mask": additive},
        "attn_float_inf_and_kpm": {"attn_mask": additive_inf, "key_padding_mask": pad},
        "both_bool": {"attn_mask": causal, "key_padding_mask": pad},
        # torch's hint: its fused path then uses SDPA's top-left causal mask, so give that one
        "causal_hint": {"attn_mask": torch.ones(tq, tk, dtype=torch.bool).triu(1), "is_causal": True},
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "none",
        "kpm",
        "kpm_float",
        "attn_2d",
        "attn_3d",
        "attn_float",
        "attn_float_inf_and_kpm",
        "both_bool",
        "causal_hint",
    ],
)
@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_from_torch_copy_called_as_torch_gives_torch_outputs(kind, average, batch_first, cross, dtype, tol):
    kdim, vdim, tk = (6, 5, TK) if cross else (D, D, TQ)
    mha = nn.MultiheadAttention(D, NH, batch_first=batch_first, kdim=kdim, vdim=vdim, dtype=dtype)
    mha = _randomise(mha).eval()
    layer = MultiHeadAttention.from_torch(mha, batch_first=batch_first).eval()
    query = _x(B, TQ, D, dtype=dtype, seed=1)
    key = _x(B, tk, kdim, dtype=dtype, seed=2) if cross else query
    value = _x(B, tk, vdim, dtype=dtype, seed=3) if cross else query
    if not batch_first:
        query, key, value = (x.transpose(0, 1) for x in (query, key, value))
    masks = _masks(kind, TQ, tk, dtype)
    for need_weights in (True, False):
        call = dict(masks, need_weights=need_weights, average_attn_weights=average)
        expected, expected_w = mha(query, key, value, **call)
        out = layer(query, key, value, **call)
        torch.testing.assert_close(out.output, expected, rtol=tol, atol=tol)
        if need_weights:
            torch.testing.assert_close(out.weights, expected_w, rtol=tol, atol=tol)
        else:
            assert out.weights is None and expected_w is None


def test_torch_masks_equal_attnkit_mask_of_opposite_polarity():
    layer = _randomise(MultiHeadAttention(D, NH).double()).eval()
    x = _x(B, TQ, D, dtype=torch.float64, seed=4)
    pad = torch.tensor([[False] * TQ, [False] * 3 + [True] * 2, [False] * 4 + [True]])
    causal = torch.ones(TQ, TQ, dtype=torch.bool).triu(1)
    ours = layer(x, mask=~pad[:, None, :] & ~causal, need_weights=True)
    torch_style = layer(x, key_padding_mask=pad, attn_mask=causal, need_weights=True)
    torch.testing.assert_close(torch_style.output, ours.output, rtol=0, atol=0)
    torch.testing.assert_close(torch_style.weights, ours.weights, rtol=0, atol=0)


def test_ambiguous_or_misshapen_masks_get_one_line_errors():
    layer = MultiHeadAttention(D, NH)
    x = torch.randn(B, TQ, D)
    pad = torch.zeros(B, TQ, dtype=torch.bool)
    with pytest.raises(ValueError, match="either mask=.*not both") as info:
        layer(x, mask=~pad, key_padding_mask=pad)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="not both"):
        layer(x, mask=~pad, attn_mask=torch.zeros(TQ, TQ, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(B, Tk\)"):
        layer(x, key_padding_mask=pad.T)
    # a per-example (B, Tq, Tk) mask is attnkit's 3-D mask, not one of torch's attn_mask shapes
    with pytest.raises(ValueError, match=r"attn_mask must be .*pass mask=~attn_mask") as info:
        layer(x, attn_mask=torch.zeros(B, TQ, TQ, dtype=torch.bool))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="is_causal=True .* needs attn_mask"):
        layer(x, is_causal=True)
    with pytest.raises(TypeError, match="bool or floating point"):
        layer(x, key_padding_mask=pad.long())
