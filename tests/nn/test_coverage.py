"""Coverage attention [Tu16]: the score with the coverage term against a per-pair loop; coverage
in the decoder state is the running sum of past weights; the GNMT coverage penalty."""

import math

import pytest
import torch

from attnkit.decoding import beam_search, coverage_penalty, greedy_decode
from attnkit.models import Seq2Seq
from attnkit.nn import AdditiveAttention, CoverageAttention

F64 = torch.float64


def test_score_matches_the_equation_written_as_a_loop():
    torch.manual_seed(0)
    att = CoverageAttention(4, 6, 5).double()
    with torch.no_grad():
        att.coverage_proj.normal_()
    q, k = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 5, 6, dtype=F64)
    cov = torch.rand(2, 3, 5, dtype=F64)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    out = att(q, k, mask, coverage=cov)
    W, U, b, v, V = (p.detach() for p in (att.query_proj.weight, att.key_proj.weight, att.key_proj.bias,
                                             att.energy, att.coverage_proj))
    for n in range(2):
        for i in range(3):
            e = [sum(v[a] * math.tanh(float(W[a] @ q[n, i] + U[a] @ k[n, j] + b[a] + V[a] * cov[n, i, j]))
                     for a in range(5)) for j in range(5)]
            allowed = [j for j in range(5) if mask[n, j]]
            z = sum(math.exp(e[j]) for j in allowed)
            expected = [math.exp(e[j]) / z if j in allowed else 0.0 for j in range(5)]
            torch.testing.assert_close(out.weights[n, i], torch.tensor(expected, dtype=F64))


def test_starts_as_plain_bahdanau_and_the_coverage_term_has_an_effect():
    torch.manual_seed(0)
    cov_att = CoverageAttention(4, 6, 5).double()
    plain = AdditiveAttention(4, 6, 5).double()
    plain.load_state_dict({k: v for k, v in cov_att.state_dict().items() if k != "coverage_proj"})
    q, k, cov = torch.randn(2, 1, 4, dtype=F64), torch.randn(2, 5, 6, dtype=F64), torch.rand(2, 1, 5, dtype=F64)
    torch.testing.assert_close(cov_att(q, k, coverage=cov).weights, plain(q, k).weights)  # V_a = 0 at init
    with torch.no_grad():
        cov_att.coverage_proj.fill_(1.0)
    assert not torch.allclose(cov_att(q, k, coverage=cov).weights, plain(q, k).weights)
    with pytest.raises(ValueError, match="coverage must be"):
        cov_att(q, k, coverage=torch.rand(2, 5))


def test_gradcheck():
    torch.manual_seed(0)
    att = CoverageAttention(3, 4, 5).double()
    with torch.no_grad():
        att.coverage_proj.normal_()
    q, k = torch.randn(2, 2, 3, dtype=F64, requires_grad=True), torch.randn(2, 4, 4, dtype=F64, requires_grad=True)
    cov = torch.rand(2, 2, 4, dtype=F64, requires_grad=True)
    mask = torch.tensor([[True, True, True, False], [True] * 4])
    assert torch.autograd.gradcheck(lambda a, b, c: att(a, b, mask, coverage=c).context, (q, k, cov))


def test_decoder_state_carries_the_sum_of_past_weights():
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, attention="bahdanau-coverage", emb_dim=8, hidden_dim=16).double().eval()
    with torch.no_grad():
        model.decoder.attention.coverage_proj.normal_()
    src, lengths = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]]), torch.tensor([4, 2])
    tgt = torch.tensor([[4, 5, 6], [7, 8, 4]])
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    assert torch.all(state.coverage == 0)
    past = torch.zeros(2, 4, dtype=F64)
    steps = []
    for t in range(3):
        lp, state, w = model.step(tgt[:, t], state, memory)
        past = past + w
        torch.testing.assert_close(state.coverage, past)
        steps.append(lp)
    torch.testing.assert_close(torch.stack(steps, 1), torch.log_softmax(model(src, lengths, tgt).logits, -1))
    assert torch.all(state.coverage[1, 2:] == 0)  # padding never receives attention


def test_coverage_penalty_formula_and_effect():
    w = torch.tensor([[0.5, 0.5, 0.0], [0.9, 0.1, 0.0]])
    assert coverage_penalty(w, 0.0) == 0.0
    assert coverage_penalty(w, 0.2) == pytest.approx(0.2 * (math.log(1.0) + math.log(0.6) + math.log(1e-9)))
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, attention="bahdanau", emb_dim=8, hidden_dim=16).double().eval()
    src, lengths = torch.tensor([[4, 5, 6, 7]]), torch.tensor([4])
    plain = beam_search(model, src, lengths, 6, beam_size=4, n_best=4, alpha=0.0)[0]
    penalised = beam_search(model, src, lengths, 6, beam_size=4, n_best=4, alpha=0.0, beta=5.0)[0]
    key = [h.score + coverage_penalty(h.weights, 5.0) for h in penalised]
    assert key == sorted(key, reverse=True)  # ranked by log-probability plus the penalty
    assert {tuple(h.tokens) for h in plain} and greedy_decode(model, src, lengths, 6)
    with pytest.raises(ValueError, match="needs attention weights"):
        none = Seq2Seq(12, 9, attention="none", emb_dim=8, hidden_dim=16).eval()
        beam_search(none, src, lengths, 6, beta=1.0)
