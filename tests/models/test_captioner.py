"""Show, Attend and Tell [Xu15]: the decoder step against the paper's equations written out here
(additive attention Eqs. 4-5, the expected context Eq. 13, the gate beta of Sec. 4.2.1, the
LSTM Eqs. 1-3, the deep output Eq. 7, the initial state of Sec. 3.1.2), hard and no attention,
the doubly stochastic penalty against Eq. 14, gradcheck of the soft path in float64, REINFORCE's
expected estimate against the exact gradient by enumerating every location, and decoding
through attnkit.decoding with the attention of every word."""

from __future__ import annotations

import itertools

import pytest
import torch

from attnkit.config import TrainConfig
from attnkit.decoding import DecodeOptions, beam_search, greedy_decode
from attnkit.losses import doubly_stochastic_penalty
from attnkit.models.captioner import CaptionMemory, CaptionState, ShowAttendTell
from attnkit.tasks.base import LossContext
from attnkit.tasks.captioning import CaptionBatch, ScenesCaptionTask

F64 = torch.float64


def _model(attention="soft", **kw):
    options = dict(channels=(4, 6), pools=(2, 2), emb_dim=5, hidden_dim=7, attn_dim=3)
    options.update(kw)
    return ShowAttendTell(11, 1, attention=attention, **options).double()


def _images(b=2, side=8, seed=0):
    return torch.randn(b, 1, side, side, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _reference_step(m: ShowAttendTell, a, h, c, y_prev, *, gate=True, location=None):
    """One decoder step written out from [Xu15]; `location` forces hard attention's choice."""
    att = m.attention
    # e_ti = v^T tanh(W h_{t-1} + U a_i + b)                                   Eq. 4
    e = torch.stack(
        [
            torch.tanh(h @ att.query_proj.weight.T + a[:, i] @ att.key_proj.weight.T + att.key_proj.bias) @ att.energy
            for i in range(a.shape[1])
        ],
        dim=1,
    )  # (B, L)
    alpha = torch.exp(e) / torch.exp(e).sum(dim=1, keepdim=True)  # Eq. 5
    if location is None:
        phi = (alpha[:, :, None] * a).sum(dim=1)  # Eq. 13
    else:
        phi = a[torch.arange(len(a)), location]  # Eq. 8-9: a_{s_t}
    beta = torch.sigmoid(h @ m.gate.weight.T + m.gate.bias) if gate else torch.ones(len(a), 1, dtype=F64)
    z = beta * phi  # Sec. 4.2.1
    ey = m.embedding.weight[y_prev]
    pre = torch.cat([ey, z], 1) @ m.lstm.weight_ih.T + m.lstm.bias_ih + h @ m.lstm.weight_hh.T + m.lstm.bias_hh
    n = h.shape[1]
    i, f, g, o = (
        torch.sigmoid(pre[:, :n]),
        torch.sigmoid(pre[:, n : 2 * n]),
        torch.tanh(pre[:, 2 * n : 3 * n]),
        torch.sigmoid(pre[:, 3 * n :]),
    )  # Eq. 1 (PyTorch's gate order)
    c_new = f * c + i * g  # Eq. 2
    h_new = o * torch.tanh(c_new)  # Eq. 3
    logits = (
        ey + h_new @ m.out_hidden.weight.T + z @ m.out_context.weight.T
    ) @ m.generator.weight.T + m.generator.bias  # Eq. 7
    return torch.log_softmax(logits, dim=1), h_new, c_new, alpha, beta[:, 0]


def _initial(m, a):
    mean = a.mean(dim=1)  # Sec. 3.1.2
    return (
        torch.tanh(mean @ m.init_hidden.weight.T + m.init_hidden.bias),
        torch.tanh(mean @ m.init_cell.weight.T + m.init_cell.bias),
    )


def test_the_soft_decoder_step_follows_the_papers_equations():
    m = _model().eval()
    memory = m.encode(_images())
    a = memory.annotations
    assert a.shape == (2, 4, 6)  # 8 x 8 pixels, pools 2 * 2 -> a 2 x 2 grid of D = 6
    h0, c0 = _initial(m, a)
    state = m.init_state(memory)
    torch.testing.assert_close(state.hidden, h0)
    torch.testing.assert_close(state.cell, c0)
    y = torch.tensor([2, 5])
    logprobs, new, weights = m.step(y, state, memory)
    ref_lp, ref_h, ref_c, ref_alpha, _ = _reference_step(m, a, h0, c0, y)
    torch.testing.assert_close(logprobs, ref_lp)
    torch.testing.assert_close(new.hidden, ref_h)
    torch.testing.assert_close(new.cell, ref_c)
    torch.testing.assert_close(weights, ref_alpha)
    # the teacher-forced forward gives the same numbers, step after step
    tgt_in = torch.tensor([[2, 6, 7], [2, 8, 0]])
    out = m(_images(), tgt_in)
    h, c = h0, c0
    for t in range(3):
        lp, h, c, alpha, beta = _reference_step(m, a, h, c, tgt_in[:, t])
        torch.testing.assert_close(torch.log_softmax(out.logits[:, t], -1), lp)
        torch.testing.assert_close(out.weights[:, t], alpha)
        torch.testing.assert_close(out.gate[:, t], beta)


def test_the_gate_changes_the_context_and_none_uses_the_mean_annotation():
    torch.manual_seed(1)
    gated = _model()
    torch.manual_seed(1)
    plain = _model(gate=False)
    assert plain.gate is None and gated.gate is not None
    memory = plain.encode(_images())
    a = memory.annotations
    h0, c0 = _initial(plain, a)
    lp, *_ = plain.step(torch.tensor([2, 3]), plain.init_state(memory), memory)
    torch.testing.assert_close(lp, _reference_step(plain, a, h0, c0, torch.tensor([2, 3]), gate=False)[0])
    assert not torch.allclose(
        lp, gated.step(torch.tensor([2, 3]), gated.init_state(gated.encode(_images())), gated.encode(_images()))[0]
    )
    none = _model("none", gate=False)
    memory = none.encode(_images())
    lp, state, weights = none.step(torch.tensor([2, 3]), none.init_state(memory), memory)
    assert weights is None and none.attention is None
    z = memory.annotations.mean(dim=1)  # the fixed context vector
    ey = none.embedding.weight[torch.tensor([2, 3])]
    h, c = none.lstm(torch.cat([ey, z], 1), _initial(none, memory.annotations))
    logits = none.generator(ey + none.out_hidden(h) + none.out_context(z))
    torch.testing.assert_close(lp, torch.log_softmax(logits, 1))


def test_hard_attention_samples_while_training_and_takes_the_argmax_at_inference():
    m = _model("hard")
    memory = m.encode(_images(b=3))
    a = memory.annotations
    h0, c0 = _initial(m, a)
    y = torch.tensor([2, 4, 6])
    _, _, _, alpha, _ = _reference_step(m, a, h0, c0, y)
    m.eval()
    lp, new, weights = m.step(y, m.init_state(memory), memory)
    best = alpha.argmax(dim=1)
    torch.testing.assert_close(weights, torch.nn.functional.one_hot(best, 4).to(F64))
    torch.testing.assert_close(lp, _reference_step(m, a, h0, c0, y, location=best)[0])
    m.train()
    out = m(_images(b=3), torch.tensor([[2, 5], [2, 6], [2, 7]]))
    first = out.weights[:, 0]
    assert set(first.sum(1).tolist()) == {1.0} and set(first.flatten().tolist()) <= {0.0, 1.0}
    chosen = first.argmax(1)
    torch.testing.assert_close(out.log_prob[:, 0].detach(), alpha.log()[torch.arange(3), chosen].detach())
    torch.testing.assert_close(out.entropy[:, 0].detach(), -(alpha * alpha.log()).sum(1).detach())
    assert out.penalty is None


def test_hard_attention_with_the_expected_context_trains_like_soft_attention():
    """[Xu15] Sec. 4.1: with probability p a caption's sampled location is set to its expected
    value; p = 1 is then the soft step of Eq. 13 (written out in the reference), with no
    score-function term; p = 0.5 mixes sampled and expected captions, one draw per caption."""
    m = _model("hard", expected_context=1.0)
    m.train()
    images, tgt_in = _images(b=3), torch.tensor([[2, 5], [2, 6], [2, 7]])
    a = m.encode(images).annotations  # the same batch statistics as inside forward
    h0, c0 = _initial(m, a)
    lp, _, _, alpha, _ = _reference_step(m, a, h0, c0, tgt_in[:, 0])
    out = m(images, tgt_in)
    torch.testing.assert_close(torch.log_softmax(out.logits[:, 0], dim=-1), lp)
    torch.testing.assert_close(out.weights[:, 0], alpha)
    assert bool((out.log_prob == 0).all())
    torch.testing.assert_close(out.entropy[:, 0], -(alpha * alpha.log()).sum(1))

    mixed = _model("hard", expected_context=0.5)
    mixed.train()
    torch.manual_seed(0)
    out = mixed(_images(b=40), torch.full((40, 3), 2))
    one_hot = (out.weights == 1).any(dim=2)  # (B, Tq): a sampled location at that step
    assert bool((one_hot == one_hot[:, :1]).all())  # one draw per caption, kept for every word
    sampled = one_hot[:, 0]
    assert 5 < int(sampled.sum()) < 35
    assert bool((out.log_prob[~sampled] == 0).all()) and bool((out.log_prob[sampled] < 0).all())
    mixed.eval()
    lp, _, weights = mixed.step(
        torch.tensor([2]), mixed.init_state(mixed.encode(_images(b=1))), mixed.encode(_images(b=1))
    )
    assert set(weights.flatten().tolist()) <= {0.0, 1.0}  # inference: the argmax location


def test_the_doubly_stochastic_penalty_is_eq_14():
    g = torch.Generator().manual_seed(3)
    weights = torch.softmax(torch.randn(2, 4, 5, generator=g, dtype=F64), dim=-1)
    real = torch.tensor([[True, True, True, False], [True, True, False, False]])
    expected = 0.0
    for b in range(2):
        for i in range(5):
            received = sum(float(weights[b, t, i]) for t in range(4) if real[b, t])
            expected += (1.0 - received) ** 2
    assert float(doubly_stochastic_penalty(weights, real)) == pytest.approx(expected, rel=1e-12)
    torch.autograd.gradcheck(lambda w: doubly_stochastic_penalty(w, real), (weights.clone().requires_grad_(),))
    with pytest.raises(ValueError, match="need weights"):
        doubly_stochastic_penalty(weights, real[:, :2])
    m = _model(penalty=0.5).eval()
    tgt_in = torch.tensor([[2, 6, 7], [2, 8, 0]])  # the second caption is one step shorter
    out = m(_images(), tgt_in)
    torch.testing.assert_close(out.penalty, 0.5 * doubly_stochastic_penalty(out.weights, tgt_in != 0))
    assert _model().eval()(_images(), tgt_in).penalty is None  # lambda = 0: no penalty


def test_gradcheck_of_the_soft_decoder_step():
    m = _model().eval()
    a = torch.randn(2, 4, 6, dtype=F64, requires_grad=True)
    h = torch.randn(2, 7, dtype=F64, requires_grad=True)
    c = torch.randn(2, 7, dtype=F64, requires_grad=True)
    y = torch.tensor([3, 9])

    def step(a, h, c):
        memory = CaptionMemory(a, torch.ones(2, 4, dtype=torch.bool), a.mean(1), m.attention.project_keys(a))
        lp, state, weights = m.step(y, CaptionState(h, c), memory)
        return lp, state.hidden, state.cell, weights

    assert torch.autograd.gradcheck(step, (a, h, c))
    images = _images().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: m(x, torch.tensor([[2, 4], [2, 5]])).logits, (images,))


def test_reinforce_estimate_equals_the_exact_gradient(monkeypatch):
    """E_s[-grad(task loss)] = grad E_s[log p(y | s, x)], summing over all 4 ** 3 location paths."""
    torch.manual_seed(4)
    m = _model("hard", channels=(3,), pools=(2,), entropy_weight=0.0).train()  # a 4 x 4 image -> L = 4
    images = _images(b=1, side=4, seed=5)
    tgt_in, tgt_out = torch.tensor([[2, 5, 7]]), torch.tensor([[5, 7, 3]])
    params = [p for p in m.parameters()]
    forced: list[int] = []

    def sample(scores, mask=None, dim=-1, *, generator=None):  # the draw is the path's next location
        loc = forced.pop(0)
        weights = torch.zeros_like(scores).detach()
        weights[..., loc] = 1.0
        return weights, torch.log_softmax(scores, dim=-1)[..., loc]

    monkeypatch.setattr("attnkit.nn.seq2seq.sample_hard", sample)
    exact = torch.zeros((), dtype=F64)
    estimate = [torch.zeros_like(p) for p in params]
    cfg = TrainConfig()
    assert m.reinforce.reinforce_weight == 1.0 and m.reinforce.entropy_weight == 0.0
    for path in itertools.product(range(4), repeat=3):
        forced[:] = path
        out = m(images, tgt_in)
        log_py = -torch.nn.functional.cross_entropy(out.logits[0], tgt_out[0], reduction="sum")
        p_path = out.log_prob.sum().exp()
        exact = exact + p_path * log_py  # J = sum_s p(s) log p(y | s, x)
        forced[:] = path
        m.reinforce.set_baseline(-2.0)  # the model's own baseline (model state)
        loss = ScenesCaptionTask.loss(m, CaptionBatch(images, tgt_in, tgt_out), LossContext(cfg))
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for e, g in zip(estimate, grads):
            if g is not None:
                e -= float(p_path.detach()) * g
    truth = torch.autograd.grad(exact, params, allow_unused=True)
    for p, e, t in zip(params, estimate, truth):
        torch.testing.assert_close(e, torch.zeros_like(p) if t is None else t, rtol=1e-7, atol=1e-10)
    assert any(float(t.abs().max()) > 1e-3 for t in truth if t is not None)


def test_greedy_and_beam_search_keep_the_attention_of_every_word():
    m = _model().eval()
    images, lengths = _images(b=3), torch.full((3,), 4)
    greedy = greedy_decode(m, images, lengths, max_len=6)
    beams = beam_search(m, images, lengths, max_len=6, options=DecodeOptions(beam_size=1, alpha=0.0))
    for hyp, (one,) in zip(greedy, beams):
        assert hyp.tokens == one.tokens and hyp.weights.shape == (len(hyp.tokens) + 1, 4)
        torch.testing.assert_close(hyp.weights, one.weights)
        torch.testing.assert_close(hyp.weights.sum(1), torch.ones(len(hyp.tokens) + 1, dtype=F64))
    # the weights of each word are those of re-running the steps on the chosen tokens
    memory, hyp = m.encode(images[:1]), greedy[0]
    state, prev = m.init_state(memory), torch.tensor([2])
    for t, token in enumerate(hyp.tokens + [3]):
        _, state, w = m.step(prev, state, memory)
        torch.testing.assert_close(w[0], hyp.weights[t])
        prev = torch.tensor([token])
    wide = beam_search(m, images, lengths, max_len=6, options=DecodeOptions(beam_size=4, n_best=2))
    assert all(h.weights.shape == (len(h.tokens) + 1, 4) for nbest in wide for h in nbest)
    none = _model("none", gate=False).eval()
    assert greedy_decode(none, images, lengths, max_len=4)[0].weights is None


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown attention"):
        _model("local")
    with pytest.raises(ValueError, match="gating scalar"):
        _model("none")
    with pytest.raises(ValueError, match="doubly stochastic"):
        _model("hard", penalty=1.0)
    for bad in [dict(attention="soft", expected_context=0.5), dict(attention="hard", expected_context=1.5)]:
        with pytest.raises(ValueError, match="expected_context"):
            _model(**bad)
    m = _model()
    with pytest.raises(ValueError, match="multiples"):
        m.encode(_images(side=6))
    with pytest.raises(ValueError, match="annotation locations"):
        m.encode(_images(), torch.tensor([4, 5]))
    assert m.grid(84, 84) == (21, 21)
