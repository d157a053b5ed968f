"""The attention-kernel contract (attnkit.functional.kernels) for every registered kernel: shapes,
padding (exactly 0, never NaN), out = weights @ v, the size limit on weights, one-line errors."""

from __future__ import annotations

import pytest
import torch

from attnkit.errors import InputError
from attnkit.functional import kernels
from attnkit.functional.efficient import ATTENTION_KERNELS

REQUIRED = {"window": 2}  # values for required options; any other required option gets 4
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def _options(name: str) -> dict[str, int]:
    return {option: REQUIRED.get(option, 4) for option in ATTENTION_KERNELS.get(name).required}


def _inputs(t: int = 9):
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(3, 2, t, 4, dtype=torch.float64, generator=g) for _ in range(2))
    v = torch.randn(3, 2, t, 5, dtype=torch.float64, generator=g)
    pad = torch.ones(3, t, dtype=torch.bool)
    pad[1, 6:] = False
    pad[2] = False
    return q, k, v, pad


@pytest.mark.parametrize("name", ATTENTION_KERNELS.names())
@pytest.mark.parametrize("causal", [False, True])
def test_every_kernel_keeps_the_contract(name, causal):
    q, k, v, pad = _inputs()
    if causal and not ATTENTION_KERNELS.get(name).supports_causal:
        with pytest.raises(InputError, match="no causal form"):
            ATTENTION_KERNELS.get(name)(q, k, v, key_padding=pad, causal=True, **_options(name))
        return
    with torch.no_grad():
        out, weights = ATTENTION_KERNELS.get(name)(
            q, k, v, key_padding=pad, causal=causal, need_weights=True, **_options(name)
        )
        none_out, none_weights = ATTENTION_KERNELS.get(name)(q, k, v, key_padding=pad, causal=causal, **_options(name))
    assert out.shape == (3, 2, 9, 5) and weights is not None and weights.shape == (3, 2, 9, 9)
    assert none_weights is None
    torch.testing.assert_close(none_out, out)
    assert not out.isnan().any() and not weights.isnan().any()
    assert (weights[1, :, :, 6:] == 0).all()  # padded keys: exactly 0
    assert (out[2] == 0).all() and (weights[2] == 0).all()  # no real key: 0
    if causal:
        assert (weights.triu(1) == 0).all()
    torch.testing.assert_close(out, weights @ v, atol=1e-6, rtol=0)
    if not ATTENTION_KERNELS.get(name).normalised:
        return
    assert (weights >= 0).all()
    sums = weights.sum(-1)  # 1, or 0 for a row without a key (in its window)
    assert ((sums - 1).abs() < 1e-6).logical_or(sums == 0).all()
    assert ((sums[0] - 1).abs() < 1e-6).all()  # every query of an unpadded example has a key


def test_dense_kernel_is_scaled_dot_product_attention():
    q, k, v, pad = _inputs()
    out, weights = ATTENTION_KERNELS.get("dense")(q, k, v, key_padding=pad, causal=True, need_weights=True)
    allowed = torch.ones(9, 9, dtype=torch.bool).tril()[None, None] & pad[:, None, None, :]
    scores = (q @ k.transpose(-1, -2) / 2.0).masked_fill(~allowed, float("-inf"))
    ref = torch.softmax(scores, -1).nan_to_num(0.0)
    torch.testing.assert_close(weights, ref)
    torch.testing.assert_close(out, ref @ v)


@pytest.mark.parametrize("name", [n for n in ATTENTION_KERNELS.names() if n != "dense"])
def test_weights_above_the_limit_are_refused_in_one_line(name, monkeypatch):
    q, k, v, pad = _inputs()
    monkeypatch.setattr(kernels, "MAX_WEIGHT_ENTRIES", 3 * 2 * 9 * 9 - 1)
    with torch.no_grad():
        with pytest.raises(InputError, match="entries") as err:
            ATTENTION_KERNELS.get(name)(q, k, v, key_padding=pad, need_weights=True, **_options(name))
        ATTENTION_KERNELS.get(name)(q, k, v, key_padding=pad, need_weights=False, **_options(name))  # no map: fine
    assert "\n" not in str(err.value)


def test_dense_kernel_has_no_size_limit(monkeypatch):
    q, k, v, pad = _inputs()
    monkeypatch.setattr(kernels, "MAX_WEIGHT_ENTRIES", 1)
    assert ATTENTION_KERNELS.get("dense")(q, k, v, key_padding=pad, need_weights=True)[1] is not None


def test_a_kernel_without_a_causal_form_refuses_causal():
    from attnkit.functional.efficient import dense_attention

    q, k, v, _ = _inputs()
    kernel = kernels.AttentionKernel(dense_attention, supports_causal=False)
    assert kernel(q, k, v)[0].shape == (3, 2, 9, 5)
    with pytest.raises(ValueError, match="no causal form"):
        kernel(q, k, v, causal=True)


def test_one_line_errors():
    q, k, v, pad = _inputs()
    with pytest.raises(ValueError, match="did you mean 'window'"):
        ATTENTION_KERNELS.get("windw")
    with pytest.raises(ValueError, match="window not taken here; it takes: dropout_p"):
        ATTENTION_KERNELS.get("dense")(q, k, v, window=3)
    with pytest.raises(ValueError, match=r"key_padding must be \(B, Tk\)"):
        ATTENTION_KERNELS.get("dense")(q, k, v, key_padding=pad[:, :4])
    with pytest.raises(ValueError, match="True = real key"):
        ATTENTION_KERNELS.get("dense")(q, k, v, key_padding=pad.float())
    with pytest.raises(ValueError, match="disagree"):
        ATTENTION_KERNELS.get("dense")(q, k[..., :3], v)
