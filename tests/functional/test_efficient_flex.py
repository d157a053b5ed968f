"""The flex-attention kernel (torch's flex_attention with a block mask) in evaluation, against dense
attention under the window mask written out here; its refusal to train where torch has no backward."""

from __future__ import annotations

import pytest
import torch

from attnkit.errors import InputError
from attnkit.functional.efficient import ATTENTION_KERNELS

flex_attention = pytest.importorskip(
    "torch.nn.attention.flex_attention", reason="flex attention needs torch >= 2.5"
).flex_attention
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def _reference(q, k, v, pad, w, causal, g):
    t = q.shape[-2]
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    allowed = torch.ones(t, t, dtype=torch.bool) if w is None else ((i - j).abs() <= w) | (i < g) | (j < g)
    if causal:
        allowed = allowed & (j <= i)
    allowed = allowed[None, None] & pad[:, None, None, :]
    scores = (q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5).masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, -1).nan_to_num(0.0)
    return weights @ v, weights


@pytest.mark.parametrize(("w", "causal", "g"), [(3, False, 0), (2, True, 1), (None, True, 0)])
def test_flex_equals_dense_attention_under_the_window_mask_in_eval(w, causal, g):
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(3, 2, 19, 8, dtype=torch.float64, generator=gen) for _ in range(3))
    pad = torch.ones(3, 19, dtype=torch.bool)
    pad[1, 15:] = False
    pad[2] = False  # no real key: 0, not NaN
    options = {} if w is None else {"window": w, "global_tokens": g}
    with torch.no_grad():
        out, weights = ATTENTION_KERNELS.get("flex")(
            q, k, v, key_padding=pad, causal=causal, need_weights=True, block_size=8, **options
        )
    ref_out, ref_weights = _reference(q, k, v, pad, w, causal, g)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, ref_weights, atol=1e-6, rtol=0)
    assert (out[2] == 0).all()


def test_flex_refuses_training_on_cpu_in_one_line():
    q, k, v = (torch.randn(1, 1, 8, 4, requires_grad=True) for _ in range(3))
    try:  # torch itself: flex attention has no backward on CPU (pytorch #148752)
        flex_attention(q, k, v).sum().backward()
    except NotImplementedError:
        pass
    else:
        pytest.skip("this torch has flex attention's backward on CPU")
    with pytest.raises(InputError, match="no backward pass on cpu") as err:
        ATTENTION_KERNELS.get("flex")(q, k, v, window=2)
    assert "\n" not in str(err.value)
    with torch.no_grad():  # inference is fine
        ATTENTION_KERNELS.get("flex")(q, k, v, window=2)
