"""padding_mask, causal_mask, expand_padding_mask and check_mask against loops; errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.functional import causal_mask, check_mask, expand_padding_mask, masked_softmax, padding_mask


@settings(max_examples=50, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 6), max_size=5),
    extra=st.none() | st.integers(0, 3),
    dtype=st.sampled_from([torch.int64, torch.int32, torch.int16, torch.uint8]),
)
def test_padding_mask_matches_loop(lengths, extra, dtype):
    longest = max(lengths, default=0)
    max_len = None if extra is None else longest + extra
    mask = padding_mask(torch.tensor(lengths, dtype=dtype), max_len)
    tk = longest if max_len is None else max_len
    expected = [[j < n for j in range(tk)] for n in lengths]
    assert mask.dtype == torch.bool
    assert mask.shape == (len(lengths), tk)
    assert mask.tolist() == expected


def test_padding_mask_example():
    mask = padding_mask(torch.tensor([3, 1, 0]), max_len=4)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False], [False, False, False, False]]


@pytest.mark.parametrize(
    "lengths, max_len, match",
    [
        (torch.tensor([[1, 2]]), None, "1-D integer"),
        (torch.tensor([1.0, 2.0]), None, "1-D integer"),
        (torch.tensor([True, False]), None, "1-D integer"),
        (torch.tensor(3), None, "1-D integer"),
        (torch.tensor([2, -1]), None, "non-negative"),
        (torch.tensor([2, 5]), 4, "exceeds max_len=4"),
    ],
)
def test_padding_mask_errors(lengths, max_len, match):
    with pytest.raises(ValueError, match=match):
        padding_mask(lengths, max_len)


@pytest.mark.parametrize("tq, tk", [(tq, tk) for tq in range(1, 5) for tk in range(tq, 8)])
def test_causal_mask_matches_loop(tq, tk):
    mask = causal_mask(tq, tk)
    # queries are the last Tq of the Tk positions: query i sits at position i + (Tk - Tq)
    expected = [[j <= i + (tk - tq) for j in range(tk)] for i in range(tq)]
    assert mask.dtype == torch.bool and mask.shape == (tq, tk)
    assert mask.tolist() == expected
    assert mask[-1].all()  # the last query sees every key


def test_causal_mask_default_is_square_lower_triangular():
    assert causal_mask(4).tolist() == [[j <= i for j in range(4)] for i in range(4)]
    assert causal_mask(4, device=torch.device("cpu")).device.type == "cpu"


def test_causal_mask_with_kv_cache_equals_tail_of_full_mask():
    full = causal_mask(7)
    for tq in range(1, 8):
        assert torch.equal(causal_mask(tq, 7), full[7 - tq :])


def test_causal_mask_fewer_keys_than_queries_raises():
    with pytest.raises(ValueError, match="Tq=4, Tk=3"):
        causal_mask(4, 3)


def test_expand_padding_mask_broadcasts_over_queries():
    pad = padding_mask(torch.tensor([2, 3]), 3)  # (B, Tk)
    expanded = expand_padding_mask(pad)
    assert expanded.shape == (2, 1, 3)
    weights = masked_softmax(torch.randn(2, 4, 3), expanded)
    assert (weights[0, :, 2] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4))


def test_padding_and_causal_masks_combine():
    pad = expand_padding_mask(padding_mask(torch.tensor([3, 2]), 3))  # (B, 1, Tk)
    combined = pad & causal_mask(3)  # (B, Tq, Tk)
    expected = [[[j <= i and j < n for j in range(3)] for i in range(3)] for n in (3, 2)]
    assert combined.tolist() == expected


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 1, 4), (3, 4), (4,), (1, 1, 1), (2, 3, 1)])
def test_check_mask_accepts_broadcastable(shape):
    assert torch.broadcast_shapes(shape, (2, 3, 4)) == (2, 3, 4)  # the case is a valid one
    assert check_mask(torch.ones(shape, dtype=torch.bool), (2, 3, 4)) is None  # and raises nothing


@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 3, 4), (5, 2, 3, 4), (2, 4)])
def test_check_mask_rejects_non_broadcastable(shape):
    with pytest.raises(ValueError, match=r"pass \(B, 1, Tk\)"):
        check_mask(torch.ones(shape, dtype=torch.bool), (2, 3, 4))


def test_check_mask_rejects_non_bool():
    with pytest.raises(TypeError, match="mask.bool"):
        check_mask(torch.ones(2, 3, 4, dtype=torch.int64), (2, 3, 4))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(1, 4), max_size=4), min_size=1, max_size=3))
def test_broadcast_shape_agrees_with_torch(shapes):
    from attnkit.functional.masks import broadcast_shape

    try:
        expected = tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError:
        expected = None
    assert broadcast_shape(*shapes) == expected


def test_one_meaning_per_rank_everywhere():
    """A 2-D mask is (B, Tk) padding in attend(), masked_softmax() and the modules alike; a
    3-D mask is (B, Tq, Tk) also against per-head scores; a (Tq, Tk) mask is refused."""
    from attnkit.functional import as_scores_mask, attend, masked_softmax
    from attnkit.nn import AdditiveAttention, MultiHeadAttention

    g = torch.Generator().manual_seed(0)
    b, nh, tq, tk, d = 2, 3, 4, 5, 6
    pad = torch.tensor([[True] * 5, [True, True, False, False, False]])  # (B, Tk)
    # the adapter: rank-by-rank views, batch first
    assert as_scores_mask(pad, (b, nh, tq, tk)).shape == (b, 1, 1, tk)
    per_query = torch.rand(b, tq, tk, generator=g) > 0.3
    assert torch.equal(as_scores_mask(per_query, (b, nh, tq, tk))[:, 0], per_query)
    with pytest.raises(ValueError, match="does not broadcast"):
        as_scores_mask(torch.ones(tq, tk, dtype=torch.bool), (b, nh, tq, tk))  # a causal (Tq, Tk) mask
    # the same padding meaning in a plain loop and in every consumer
    scores = torch.randn(b, nh, tq, tk, generator=g, dtype=torch.float64)
    weights = masked_softmax(scores, pad)
    for i in range(b):
        n = int(pad[i].sum())
        torch.testing.assert_close(weights[i, ..., :n], torch.softmax(scores[i, ..., :n], -1))
        assert torch.all(weights[i, ..., n:] == 0)
    q, k, v = (torch.randn(b, nh, t, d, generator=g, dtype=torch.float64) for t in (tq, tk, tk))
    torch.testing.assert_close(attend(q, k, v, mask=pad).weights, attend(q, k, v, mask=pad[:, None, None]).weights)
    mha = MultiHeadAttention(d * nh, nh).double().eval()
    x, mem = torch.randn(b, tq, d * nh, dtype=torch.float64), torch.randn(b, tk, d * nh, dtype=torch.float64)
    out = mha(x, mem, mask=pad, need_weights=True)
    assert torch.all(out.weights[1, ..., 2:] == 0) and torch.all(out.weights[0] > 0)
    add = AdditiveAttention(query_dim=4, key_dim=3, attn_dim=5).double()
    a = add(torch.randn(b, tq, 4, dtype=torch.float64), torch.randn(b, tk, 3, dtype=torch.float64), pad)
    assert torch.all(a.weights[1, :, 2:] == 0) and torch.all(a.weights[0] > 0)
