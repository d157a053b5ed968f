"""Local-m and local-p attention [Luong15] Sec. 3.2 against plain re-computations."""

from __future__ import annotations

import math

import pytest
import torch

from attnkit.nn.local import LocalMonotonicAttention, LocalPredictiveAttention
from attnkit.nn.seq2seq import LuongAttended, LuongAttention

F64 = torch.float64
B, TQ, TK, DQ, DK = 3, 8, 7, 4, 6
LENGTHS = (7, 4, 1)
SCORE_CASES = [("dot", DK, None), ("general", DQ, None), ("concat", DQ, 3)]
SCORE_IDS = [name for name, _, _ in SCORE_CASES]


def _inputs(dq: int = DQ, dk: int = DK, b: int = B, tq: int = TQ, tk: int = TK, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, tq, dq, dtype=F64, generator=g), torch.randn(b, tk, dk, dtype=F64, generator=g))


def _padding(lengths, tk: int = TK) -> torch.Tensor:
    return torch.tensor([[j < n for j in range(tk)] for n in lengths])  # (B, Tk)


def _window(center: float, length: int, d: int) -> set[int]:
    """The paper's window [c - D, c + D] ∩ [0, S - 1] around c = round(center) (half up); when
    that is empty (c > S - 1 + D), the last token, as documented; empty when S = 0."""
    c = math.floor(center + 0.5)
    window = {s for s in range(c - d, c + d + 1) if 0 <= s < length}
    return window if window or length == 0 else {length - 1}


def _support(weights_row: torch.Tensor) -> set[int]:
    return {int(s) for s in torch.nonzero(weights_row).flatten()}


def _local_p(score_name: str = "general", window: int = 2, dq: int = DQ, attn_dim=None):
    module = LocalPredictiveAttention(dq, DK, window=window, score_name=score_name, attn_dim=attn_dim).double()
    with torch.no_grad():  # spread the predicted positions over the sentence
        module.position_energy.mul_(8.0)
    return module


# --- local-m --------------------------------------------------------------------------------


@pytest.mark.parametrize("score_name, dq, attn_dim", SCORE_CASES, ids=SCORE_IDS)
@pytest.mark.parametrize("window", [0, 1, 2])
def test_local_m_weights_live_exactly_on_the_window(score_name, dq, attn_dim, window):
    module = LocalMonotonicAttention(dq, DK, window=window, score_name=score_name, attn_dim=attn_dim).double()
    query, keys = _inputs(dq=dq)
    out = module(query, keys, _padding(LENGTHS), positions=0)
    assert isinstance(out, LuongAttended)
    assert out.attentional.shape == (B, TQ, dq)
    assert out.context.shape == (B, TQ, DK) and out.weights.shape == (B, TQ, TK)
    for b, n in enumerate(LENGTHS):
        for t in range(TQ):  # TQ > every length: covers t beyond S - 1 (and beyond S - 1 + D)
            assert _support(out.weights[b, t]) == _window(t, n, window), (b, t)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, TQ, dtype=F64))


def test_local_m_window_at_sentence_edges_with_padding():
    module = LocalMonotonicAttention(DQ, DK, window=1).double()
    query, keys = _inputs(b=2, tq=7)
    weights = module(query, keys, _padding((7, 3)), positions=0).weights
    assert [_support(weights[1, t]) for t in range(7)] == [
        {0, 1},
        {0, 1, 2},
        {1, 2},
        {2},
        {2},
        {2},
        {2},
    ]  # t = 3 = S - 1 + D: {2}; then kept
    assert _support(weights[0, 0]) == {0, 1} and _support(weights[0, 6]) == {5, 6}
    assert _support(weights[0, 3]) == {2, 3, 4}


@pytest.mark.parametrize("window", [0, 1, 2, 3])
def test_local_m_weights_are_the_softmax_over_the_papers_window_at_every_step(window):
    lengths = (7, 4, 3, 1)  # right-padded to Tk = 7
    tq = max(lengths) + window + 3  # every sentence gets steps t = S ... S - 1 + D and beyond
    module = LocalMonotonicAttention(DQ, DK, window=window).double()
    query, keys = _inputs(b=len(lengths), tq=tq)
    weights = module(query, keys, _padding(lengths), positions=0).weights
    wa = module.scorer.key_proj.weight  # W_a of the general score, (Dq, Dk)
    scores = torch.einsum("bqd,de,bke->bqk", query, wa, keys).tolist()  # [Luong15] Eq. 8
    for b, n in enumerate(lengths):
        for t in range(tq):
            win = [s for s in range(t - window, t + window + 1) if 0 <= s < n]  # [t-D, t+D] ∩ [0, S-1]
            if not win:  # empty only past t = S - 1 + D: the documented fallback, the last token
                assert t > n - 1 + window
                win = [n - 1]
            z = sum(math.exp(scores[b][t][s]) for s in win)
            want = [math.exp(scores[b][t][s]) / z if s in win else 0.0 for s in range(TK)]
            torch.testing.assert_close(
                weights[b, t], torch.tensor(want, dtype=F64), rtol=1e-12, atol=0, msg=f"b={b} S={n} t={t}"
            )
    if window == 2:  # S = 3, D = 2: t = 3 attends {1, 2} as in the paper, t = 4 only {2}
        assert _support(weights[2, 3]) == {1, 2} and _support(weights[2, 4]) == {2}


def test_local_m_positions_offset_tensor_and_step_by_step_agree():
    module = LocalMonotonicAttention(DQ, DK, window=1).double()
    query, keys = _inputs()
    mask = _padding(LENGTHS)
    shifted = module(query, keys, mask, positions=2)
    explicit = module(query, keys, mask, positions=torch.arange(2, 2 + TQ))
    for x, y in zip(shifted, explicit):
        assert torch.equal(x, y)
    assert not torch.equal(shifted.weights, module(query, keys, mask).weights)
    projected = module.project_keys(keys)
    for t in range(TQ):  # decoding one step at a time, as a decoder would
        step = module(query[:, t : t + 1], keys, mask, projected, positions=2 + t)
        for x, y in zip(step, shifted):
            torch.testing.assert_close(x, y[:, t : t + 1], rtol=0, atol=1e-14)


@pytest.mark.parametrize("score_name, dq, attn_dim", SCORE_CASES, ids=SCORE_IDS)
@pytest.mark.parametrize("lengths", [None, LENGTHS, (7, 0, 3)])
@pytest.mark.parametrize("window", [TK - 1, TK, 100])
def test_local_m_with_window_covering_tk_equals_global_luong(score_name, dq, attn_dim, lengths, window):
    local = LocalMonotonicAttention(dq, DK, window=window, score_name=score_name, attn_dim=attn_dim).double()
    glob = LuongAttention(dq, DK, score_name=score_name, attn_dim=attn_dim).double()
    glob.load_state_dict(local.state_dict())  # same parameter names: scorer.*, combine.*
    query, keys = _inputs(dq=dq)
    query = query[:, : window + 1]  # steps t <= D, whose window [t - D, t + D] holds the sentence
    mask = None if lengths is None else _padding(lengths)
    for x, y in zip(local(query, keys, mask, positions=0), glob(query, keys, mask)):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-15)


def test_local_m_with_a_wide_window_is_local_again_once_t_exceeds_d():
    local = LocalMonotonicAttention(DQ, DK, window=TK - 1).double()
    query, keys = _inputs()
    weights = local(query, keys, positions=TK).weights  # t = Tk = D + 1: window [1, 2 Tk - 1]
    assert (weights[:, 0, 0] == 0).all() and (weights[:, 0, 1:] > 0).all()


def test_local_m_smaller_window_differs_from_global():
    local = LocalMonotonicAttention(DQ, DK, window=1).double()
    glob = LuongAttention(DQ, DK).double()
    glob.load_state_dict(local.state_dict())
    query, keys = _inputs()
    assert not torch.allclose(local(query, keys).weights, glob(query, keys).weights)


# --- local-p --------------------------------------------------------------------------------


def _scores_reference(module, score_name: str, query, keys) -> torch.Tensor:
    """score(h_t, h_s) of [Luong15] Eq. 8 by einsum, float64, (B, Tq, Tk)."""
    if score_name == "dot":
        return torch.einsum("bqd,bkd->bqk", query, keys)
    if score_name == "general":
        wa = module.scorer.key_proj.weight  # W_a, (Dq, Dk)
        return torch.einsum("bqd,de,bke->bqk", query, wa, keys)
    wq, wk = module.scorer.query_proj.weight, module.scorer.key_proj.weight  # W_a = [W_q | W_k]
    hidden = torch.tanh(
        torch.einsum("ad,bqd->bqa", wq, query)[:, :, None] + torch.einsum("ae,bke->bka", wk, keys)[:, None]
    )  # (B, Tq, Tk, Da)
    return hidden @ module.scorer.energy


def _local_p_reference(module, score_name, query, keys, lengths):
    """Eqs. 9 and 10 with Python loops over (b, t, s), from the module's W_p and v_p."""
    wp = module.position_proj.weight.tolist()  # W_p, (Dp, Dq)
    vp = module.position_energy.tolist()  # v_p, (Dp,)
    wc = module.combine.weight.tolist()  # W_c, (Dq, Dk + Dq)
    scores = _scores_reference(module, score_name, query, keys).tolist()
    d, sigma = module.window, module.window / 2
    b_n, tq, tk = len(scores), len(scores[0]), len(scores[0][0])
    weights = torch.zeros(b_n, tq, tk, dtype=F64)
    centers = torch.zeros(b_n, tq, dtype=F64)
    for b in range(b_n):
        n = lengths[b]
        for t in range(tq):
            h = query[b, t].tolist()
            u = sum(vp[a] * math.tanh(sum(wp[a][i] * h[i] for i in range(len(h)))) for a in range(len(vp)))
            p = max(n - 1, 0) / (1 + math.exp(-u))  # Eq. 9 with S - 1
            centers[b, t] = p
            win = sorted(_window(p, n, d))
            if not win:
                continue
            m = max(scores[b][t][s] for s in win)
            z = sum(math.exp(scores[b][t][s] - m) for s in win)
            for s in win:  # Eq. 10: in-window softmax times the Gaussian, no renormalisation
                align = math.exp(scores[b][t][s] - m) / z
                weights[b, t, s] = align * math.exp(-((s - p) ** 2) / (2 * sigma**2))
    context = weights @ keys
    cat = torch.cat([context, query], -1).tolist()
    attentional = torch.tensor(
        [
            [[math.tanh(sum(w * x for w, x in zip(row, cat[b][t]))) for row in wc] for t in range(tq)]
            for b in range(b_n)
        ],
        dtype=F64,
    )
    return attentional, context, weights, centers


@pytest.mark.parametrize("score_name, dq, attn_dim", SCORE_CASES, ids=SCORE_IDS)
@pytest.mark.parametrize("lengths", [None, LENGTHS, (7, 0, 5)])
@pytest.mark.parametrize("window", [1, 2])
def test_local_p_matches_eqs_9_10_loop(score_name, dq, attn_dim, lengths, window):
    module = _local_p(score_name, window, dq, attn_dim)
    query, keys = _inputs(dq=dq)
    mask = None if lengths is None else _padding(lengths)
    out = module(query, keys, mask)
    assert isinstance(out, LuongAttended)
    assert out.attentional.shape == (B, TQ, dq) and out.weights.shape == (B, TQ, TK)
    attentional, context, weights, centers = _local_p_reference(module, score_name, query, keys, lengths or (TK,) * B)
    n = torch.tensor(lengths or (TK,) * B)
    torch.testing.assert_close(module.predict_positions(query, n), centers)
    torch.testing.assert_close(out.weights, weights, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(out.context, context)
    torch.testing.assert_close(out.attentional, attentional)


def test_local_p_weights_are_zero_outside_window_and_sentence_and_sum_to_at_most_one():
    module = _local_p(window=1)
    query, keys = _inputs()
    lengths = torch.tensor(LENGTHS)
    out = module(query, keys, _padding(LENGTHS))
    centers = module.predict_positions(query, lengths)
    assert (centers >= 0).all() and (centers <= (lengths - 1)[:, None]).all()
    assert len({round(c, 3) for c in centers[0].tolist()}) > 2  # centres do vary with h_t
    for b, n in enumerate(LENGTHS):
        for t in range(TQ):
            assert _support(out.weights[b, t]) == _window(centers[b, t].item(), n, 1)
    sums = out.weights.sum(-1)
    assert (out.weights >= 0).all() and (sums <= 1 + 1e-12).all()
    assert (sums[:2] < 1 - 1e-3).any()  # the Gaussian is not renormalised away
    torch.testing.assert_close(sums[2], torch.ones(TQ, dtype=F64))  # S = 1: p_t = 0 exactly


def test_local_p_ignores_positions():
    module = _local_p()
    query, keys = _inputs()
    mask = _padding(LENGTHS)
    for x, y in zip(module(query, keys, mask), module(query, keys, mask, positions=5)):
        assert torch.equal(x, y)


# --- shared behaviour -----------------------------------------------------------------------


def _both(dq: int = DQ, window: int = 2):
    return [LocalMonotonicAttention(dq, DK, window=window).double(), _local_p(window=window)]


@pytest.fixture(params=["local-m", "local-p"])
def module(request):
    return _both()[["local-m", "local-p"].index(request.param)]


def test_batch_equals_examples_one_at_a_time_with_padding(module):
    query, keys = _inputs()
    batch = module(query, keys, _padding(LENGTHS), positions=1)
    for b, n in enumerate(LENGTHS):
        alone = module(query[b : b + 1], keys[b : b + 1, :n], positions=1)  # unpadded, no mask
        for field in batch._fields:
            got = getattr(batch, field)[b : b + 1]
            if field == "weights":
                got = got[..., :n]
            torch.testing.assert_close(got, getattr(alone, field), msg=field)
        assert (batch.weights[b, :, n:] == 0).all()


def test_all_false_mask_row_gives_zeros_and_finite_gradients(module):
    query, keys = _inputs()
    query.requires_grad_()
    out = module(query, keys, _padding((7, 0, 3)))
    assert not any(t.isnan().any() for t in out)
    assert (out.weights[1] == 0).all() and (out.context[1] == 0).all()
    sum((t * torch.randn_like(t)).sum() for t in out).backward()
    assert torch.isfinite(query.grad).all()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in module.parameters())


def test_projected_keys_give_identical_results(module):
    query, keys = _inputs()
    mask = _padding(LENGTHS)
    cached = module(query, keys, mask, module.project_keys(keys))
    for x, y in zip(module(query, keys, mask), cached):
        assert torch.equal(x, y)


def test_every_parameter_gets_a_finite_nonzero_gradient(module):
    query, keys = _inputs()
    out = module(query, keys, _padding(LENGTHS))
    sum((t * torch.randn_like(t)).sum() for t in out).backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_gradcheck_local_m():
    module = LocalMonotonicAttention(3, 2, window=1, score_name="concat", attn_dim=2).double()
    query, keys = _inputs(dq=3, dk=2, b=2, tq=4, tk=4)
    mask = _padding((4, 2), tk=4)
    assert torch.autograd.gradcheck(
        lambda q, k: tuple(module(q, k, mask, positions=0)), (query.requires_grad_(), keys.requires_grad_())
    )


def test_gradcheck_local_p_reaches_wp_and_vp():
    module = _local_p(window=1)
    query, keys = _inputs(b=2, tq=3, tk=5)
    mask = _padding((5, 4), tk=5)
    centers = module.predict_positions(query, torch.tensor([5, 4]))
    assert ((centers - centers.floor() - 0.5).abs() > 1e-3).all()  # no rounding tie nearby
    names = ("position_proj.weight", "position_energy")
    params = tuple(dict(module.named_parameters())[n].detach().clone().requires_grad_() for n in names)

    def fn(q, k, wp, vp):
        out = torch.func.functional_call(module, dict(zip(names, (wp, vp))), (q, k, mask))
        return tuple(out)

    inputs = (query.requires_grad_(), keys.requires_grad_(), *params)
    assert torch.autograd.gradcheck(fn, inputs)
    grads = torch.autograd.grad(sum(t.sum() for t in fn(*inputs)), params)
    assert all(g.abs().sum() > 0 for g in grads)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [LocalMonotonicAttention, LocalPredictiveAttention])
def test_constructor_errors(cls):
    with pytest.raises(ValueError, match="window must be >= .*got -1"):
        cls(DQ, DK, window=-1)
    with pytest.raises(TypeError, match="window must be an int"):
        cls(DQ, DK, window=2.0)
    with pytest.raises(ValueError, match="unknown Luong score 'location'"):
        cls(DQ, DK, window=1, score_name="location")
    with pytest.raises(ValueError, match="equal decoder and annotation widths"):
        cls(DQ, DK, window=1, score_name="dot")


def test_local_p_needs_a_positive_window():
    with pytest.raises(ValueError, match="window must be >= 1.*got 0"):
        LocalPredictiveAttention(DQ, DK, window=0)
    assert LocalMonotonicAttention(DQ, DK, window=0).window == 0


def test_forward_errors(module):
    query, keys = _inputs()
    mask = _padding(LENGTHS)
    with pytest.raises(ValueError, match=r"query must be \(B, Tq, Dq\) with last dim 4, got \(8"):
        module(query[0], keys)
    with pytest.raises(ValueError, match=r"keys must be \(B, Tk, Dk\) with last dim 6"):
        module(query, keys[..., :5])
    with pytest.raises(ValueError, match="share the batch size B, got 3 and 2"):
        module(query, keys[:2])
    with pytest.raises(ValueError, match=r"\(B, Tk\) = \(3, 7\) padding mask, got \(3, 1, 7\)"):
        module(query, keys, mask[:, None])
    with pytest.raises(ValueError, match="right-padded"):
        module(query, keys, mask.flip(-1))
    with pytest.raises(TypeError, match="torch.bool"):
        module(query, keys, mask.long())
    with pytest.raises(ValueError, match=r"projected_keys must be \(B, Tk, D\*\)"):
        module(query, keys, mask, module.project_keys(keys)[:, :3])
    with pytest.raises(ValueError, match=r"keys must be \(B, Tk, Dk\)"):
        module.project_keys(keys[0])


def test_local_m_position_errors():
    module = LocalMonotonicAttention(DQ, DK, window=1).double()
    query, keys = _inputs()
    with pytest.raises(ValueError, match=r"positions must be an int or a \(Tq,\) = \(8,\) tensor"):
        module(query, keys, positions=torch.arange(3))
    with pytest.raises(ValueError, match="target positions must be >= 0, got minimum -1"):
        module(query, keys, positions=-1)
    with pytest.raises(TypeError, match="integer tensor"):
        module(query, keys, positions=torch.zeros(TQ))
    with pytest.raises(TypeError, match="positions must be an int"):
        module(query, keys, positions=1.0)
