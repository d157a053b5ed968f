"""AdditiveAttention and LuongAttention against the papers' equations with copied weights."""

from __future__ import annotations

import math

import pytest
import torch

from attnkit.functional import Attended
from attnkit.nn import AdditiveAttention, LuongAttended, LuongAttention

F64 = torch.float64
B, TQ, TK, DQ, DK, DA = 2, 3, 5, 4, 6, 7


def _inputs(dq: int = DQ, dk: int = DK, b: int = B, tq: int = TQ, tk: int = TK):
    g = torch.Generator().manual_seed(3)
    return (torch.randn(b, tq, dq, dtype=F64, generator=g), torch.randn(b, tk, dk, dtype=F64, generator=g))


def _padding(lengths, tk: int = TK) -> torch.Tensor:
    return torch.tensor([[j < n for j in range(tk)] for n in lengths])  # (B, Tk)


def _softmax_and_context(scores: list, mask_row, keys: torch.Tensor):
    """alpha_j = exp(e_j) / sum_{unmasked} exp(e_k), c = sum_j alpha_j h_j, from Python floats."""
    keep = [j for j in range(len(scores)) if mask_row is None or bool(mask_row[j])]
    alpha = [0.0] * len(scores)
    if keep:
        m = max(scores[j] for j in keep)
        z = sum(math.exp(scores[j] - m) for j in keep)
        for j in keep:
            alpha[j] = math.exp(scores[j] - m) / z
    context = [sum(alpha[j] * keys[j][d] for j in range(len(scores))) for d in range(len(keys[0]))]
    return alpha, context


# --- AdditiveAttention ----------------------------------------------------------------------


def _bahdanau_reference(module: AdditiveAttention, query, keys, mask):
    """Per-pair loop of [Bahdanau15] Eq. 6 with the module's weights copied out as lists."""
    wa = module.query_proj.weight.tolist()  # (Da, Dq)
    ua = module.key_proj.weight.tolist()  # (Da, Dk)
    bias = module.key_proj.bias.tolist() if module.key_proj.bias is not None else [0.0] * len(wa)
    va = module.energy.tolist()  # (Da,)
    weights, contexts = [], []
    for b in range(query.shape[0]):
        s, h = query[b].tolist(), keys[b].tolist()
        wb, cb = [], []
        for t in range(len(s)):
            e = []
            for j in range(len(h)):
                total = 0.0
                for a in range(len(va)):
                    pre = sum(wa[a][d] * s[t][d] for d in range(len(s[t])))
                    pre += sum(ua[a][d] * h[j][d] for d in range(len(h[j]))) + bias[a]
                    total += va[a] * math.tanh(pre)  # e_tj = v_a^T tanh(W_a s + U_a h_j + b)
                e.append(total)
            alpha, c = _softmax_and_context(e, None if mask is None else mask[b], h)
            wb.append(alpha)
            cb.append(c)
        weights.append(wb)
        contexts.append(cb)
    return torch.tensor(contexts, dtype=F64), torch.tensor(weights, dtype=F64)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lengths", [None, (5, 3), (2, 0)])
def test_additive_matches_bahdanau_eq6_loop(bias, lengths):
    module = AdditiveAttention(DQ, DK, DA, bias=bias).double()
    query, keys = _inputs()
    mask = None if lengths is None else _padding(lengths)
    out = module(query, keys, mask)
    assert isinstance(out, Attended)
    assert out.context.shape == (B, TQ, DK) and out.weights.shape == (B, TQ, TK)
    context, weights = _bahdanau_reference(module, query, keys, mask)
    torch.testing.assert_close(out.weights, weights)
    torch.testing.assert_close(out.context, context)
    assert (module.key_proj.bias is None) == (not bias)


def test_additive_projected_keys_give_identical_results():
    module = AdditiveAttention(DQ, DK, DA).double()
    query, keys = _inputs()
    mask = _padding((5, 2))
    projected = module.project_keys(keys)
    assert projected.shape == (B, TK, DA)
    torch.testing.assert_close(projected, keys @ module.key_proj.weight.T + module.key_proj.bias)
    a, b = module(query, keys, mask), module(query, keys, mask, projected_keys=projected)
    assert torch.equal(a.context, b.context) and torch.equal(a.weights, b.weights)


# --- LuongAttention -------------------------------------------------------------------------


def _luong_scores(module: LuongAttention, score_name: str, s: list, h: list) -> list:
    """score(h_t, h_s) of [Luong15] Eq. 8 for one example, from the module's weights."""
    if score_name == "dot":
        return [[sum(a * b for a, b in zip(st, hs)) for hs in h] for st in s]
    if score_name == "general":
        w = module.scorer.key_proj.weight.tolist()  # W_a, (Dq, Dk)
        return [[sum(st[a] * w[a][c] * hs[c] for a in range(len(st)) for c in range(len(hs))) for hs in h] for st in s]
    # concat: v_a^T tanh(W_a [h_t; h_s]), W_a = [W_q | W_k] of shape (Da, Dq + Dk)
    w = torch.cat([module.scorer.query_proj.weight, module.scorer.key_proj.weight], 1).tolist()
    v = module.scorer.energy.tolist()
    return [
        [sum(v[a] * math.tanh(sum(w[a][m] * x for m, x in enumerate(st + hs))) for a in range(len(v))) for hs in h]
        for st in s
    ]


def _luong_reference(module: LuongAttention, score_name: str, query, keys, mask):
    wc = module.combine.weight.tolist()  # W_c, (Dq, Dk + Dq)
    attentional, contexts, weights = [], [], []
    for b in range(query.shape[0]):
        s, h = query[b].tolist(), keys[b].tolist()
        scores = _luong_scores(module, score_name, s, h)
        ab, cb, wb = [], [], []
        for t in range(len(s)):
            alpha, c = _softmax_and_context(scores[t], None if mask is None else mask[b], h)
            cat = c + s[t]  # [c_t; h_t]
            ab.append(
                [
                    math.tanh(sum(wc[o][m] * cat[m] for m in range(len(cat))))  # Eq. 5
                    for o in range(len(wc))
                ]
            )
            cb.append(c)
            wb.append(alpha)
        attentional.append(ab)
        contexts.append(cb)
        weights.append(wb)
    return tuple(torch.tensor(x, dtype=F64) for x in (attentional, contexts, weights))


_LUONG_CASES = [("dot", DK, None), ("general", DQ, None), ("concat", DQ, None), ("concat", DQ, 3)]


@pytest.mark.parametrize("score_name, dq, attn_dim", _LUONG_CASES)
@pytest.mark.parametrize("lengths", [None, (5, 3), (4, 0)])
def test_luong_matches_eqs_5_7_8_loop(score_name, dq, attn_dim, lengths):
    module = LuongAttention(dq, DK, score_name=score_name, attn_dim=attn_dim).double()
    query, keys = _inputs(dq=dq)
    mask = None if lengths is None else _padding(lengths)
    out = module(query, keys, mask)
    assert isinstance(out, LuongAttended)
    assert out.attentional.shape == (B, TQ, dq)
    assert out.context.shape == (B, TQ, DK) and out.weights.shape == (B, TQ, TK)
    attentional, context, weights = _luong_reference(module, score_name, query, keys, mask)
    torch.testing.assert_close(out.weights, weights)
    torch.testing.assert_close(out.context, context)
    torch.testing.assert_close(out.attentional, attentional)


def test_luong_concat_attn_dim_defaults_to_query_dim():
    assert LuongAttention(DQ, DK, score_name="concat").scorer.energy.shape == (DQ,)
    assert LuongAttention(DQ, DK, score_name="concat", attn_dim=9).scorer.energy.shape == (9,)


@pytest.mark.parametrize("score_name, dq, attn_dim", _LUONG_CASES)
def test_luong_projected_keys_give_identical_results(score_name, dq, attn_dim):
    module = LuongAttention(dq, DK, score_name=score_name, attn_dim=attn_dim).double()
    query, keys = _inputs(dq=dq)
    mask = _padding((5, 2))
    a = module(query, keys, mask)
    b = module(query, keys, mask, projected_keys=module.project_keys(keys))
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_luong_dot_with_unequal_widths_raises():
    with pytest.raises(ValueError, match="equal decoder and annotation widths, got 4 and 6"):
        LuongAttention(4, 6, score_name="dot")


def test_luong_unknown_score_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown Luong score 'location'.*dot, general, concat"):
        LuongAttention(4, 6, score_name="location")


# --- shared behaviour -----------------------------------------------------------------------


def _modules():
    return [
        ("additive", AdditiveAttention(DQ, DK, DA), DQ),
        ("additive-nobias", AdditiveAttention(DQ, DK, DA, bias=False), DQ),
        ("luong-dot", LuongAttention(DK, DK, score_name="dot"), DK),
        ("luong-general", LuongAttention(DQ, DK, score_name="general"), DQ),
        ("luong-concat", LuongAttention(DQ, DK, score_name="concat", attn_dim=3), DQ),
    ]


_IDS = [name for name, _, _ in _modules()]


@pytest.fixture(params=range(len(_IDS)), ids=_IDS)
def module_and_dq(request):
    _, module, dq = _modules()[request.param]
    return module.double(), dq


def test_padding_gets_zero_weight_and_padded_key_values_do_not_matter(module_and_dq):
    module, dq = module_and_dq
    query, keys = _inputs(dq=dq)
    mask = _padding((5, 3))
    out = module(query, keys, mask)
    assert (out.weights[~mask.unsqueeze(1).expand(B, TQ, TK)] == 0).all()
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, TQ, dtype=F64))
    changed = keys.clone()
    changed[1, 3:] = 1e3 * torch.randn(2, DK, dtype=F64)  # rewrite only padded keys
    out2 = module(query, changed, mask)
    for x, y in zip(out, out2):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


def test_fully_padded_example_gives_zero_weights_and_context(module_and_dq):
    module, dq = module_and_dq
    query, keys = _inputs(dq=dq)
    out = module(query, keys, _padding((5, 0)))
    assert not any(t.isnan().any() for t in out)
    assert (out.weights[1] == 0).all() and (out.context[1] == 0).all()


def test_mask_shapes_are_equivalent(module_and_dq):
    module, dq = module_and_dq
    query, keys = _inputs(dq=dq)
    pad = _padding((5, 3))  # (B, Tk)
    reference = module(query, keys, pad)
    for mask in (pad[:, None, :], pad[:, None, :].expand(B, TQ, TK)):
        for x, y in zip(reference, module(query, keys, mask)):
            assert torch.equal(x, y)


def test_2d_masks_are_padding_masks_and_3d_masks_broadcast_over_the_batch():
    # Documented convention: a 2-D mask is (B, Tk) padding; a (Tq, Tk) mask is passed as (1, Tq, Tk).
    module = AdditiveAttention(DQ, DK, DA).double()
    query, keys = _inputs(b=3, tq=3, tk=3)
    causal = torch.ones(3, 3, dtype=torch.bool).tril()  # (Tq, Tk)
    expected = module(query, keys, causal.expand(3, 3, 3))
    torch.testing.assert_close(module(query, keys, causal.unsqueeze(0)).weights, expected.weights)
    padding = torch.tensor([[True, True, False], [True, False, False], [True, True, True]])
    by_example = module(query, keys, padding).weights  # row b masks keys of example b
    torch.testing.assert_close(by_example, module(query, keys, padding.unsqueeze(1)).weights)
    assert torch.all(by_example[1, :, 1:] == 0) and torch.all(by_example[0, :, 2] == 0)


def test_batch_equals_examples_one_at_a_time_without_padding(module_and_dq):
    module, dq = module_and_dq
    lengths = (5, 3, 1)
    query, keys = _inputs(dq=dq, b=3)
    batch = module(query, keys, _padding(lengths))
    for b, n in enumerate(lengths):
        alone = module(query[b : b + 1], keys[b : b + 1, :n])  # unpadded, no mask
        for field in batch._fields:
            got = getattr(batch, field)[b : b + 1]
            if field == "weights":
                got = got[..., :n]  # the unpadded keys
            torch.testing.assert_close(got, getattr(alone, field), msg=field)
        assert (batch.weights[b, :, n:] == 0).all()


def test_shape_errors(module_and_dq):
    module, dq = module_and_dq
    query, keys = _inputs(dq=dq)
    with pytest.raises(ValueError, match="query must be"):
        module(query[0], keys)  # 2-D query
    with pytest.raises(ValueError, match="query must be"):
        module(torch.randn(B, TQ, dq + 1, dtype=F64), keys)
    with pytest.raises(ValueError, match="keys must be"):
        module(query, torch.randn(B, TK, DK + 1, dtype=F64))
    with pytest.raises(ValueError, match="keys must be"):
        module.project_keys(keys[0])
    with pytest.raises(ValueError, match="does not broadcast"):
        module(query, keys, torch.ones(B, TK + 1, dtype=torch.bool))
    with pytest.raises(TypeError, match="torch.bool"):
        module(query, keys, torch.ones(B, TK, dtype=torch.int64))


@pytest.mark.parametrize(
    "make",
    [
        lambda: AdditiveAttention(3, 2, 2),
        lambda: AdditiveAttention(3, 2, 2, bias=False),
        lambda: LuongAttention(2, 2, score_name="dot"),
        lambda: LuongAttention(3, 2, score_name="general"),
        lambda: LuongAttention(3, 2, score_name="concat", attn_dim=2),
    ],
    ids=_IDS,
)
def test_gradcheck_wrt_query_and_keys(make):
    module = make().double()
    query, keys = _inputs(dq=module.query_dim, dk=module.key_dim, b=2, tq=2, tk=3)
    query.requires_grad_()
    keys.requires_grad_()
    mask = _padding((3, 2), tk=3)  # one padded position

    def fn(q, k):
        return tuple(module(q, k, mask))

    assert torch.autograd.gradcheck(fn, (query, keys))


def test_every_parameter_gets_a_finite_nonzero_gradient(module_and_dq):
    module, dq = module_and_dq
    query, keys = _inputs(dq=dq)
    out = module(query, keys, _padding((5, 3)))
    loss = sum((t * torch.randn_like(t)).sum() for t in out)
    loss.backward()
    params = dict(module.named_parameters())
    assert params, "module has no parameters"
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
