"""Coverage attention [Tu16]: the score with the coverage term against a per-pair loop; coverage
in the decoder state is the running sum of past weights; the GNMT coverage penalty."""

import itertools
import math
from typing import NamedTuple

import pytest
import torch

from attnkit.decoding import DecodeOptions, beam_search, coverage_penalty
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
    W, U, b, v, V = (
        p.detach()
        for p in (att.query_proj.weight, att.key_proj.weight, att.key_proj.bias, att.energy, att.coverage_proj)
    )
    for n in range(2):
        for i in range(3):
            e = [
                sum(
                    v[a] * math.tanh(float(W[a] @ q[n, i] + U[a] @ k[n, j] + b[a] + V[a] * cov[n, i, j]))
                    for a in range(5)
                )
                for j in range(5)
            ]
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


def test_without_coverage_it_is_the_first_step_and_stands_in_for_its_parent():
    """coverage=None is C_0 = 0, so a CoverageAttention called as an AdditiveAttention (the parent's
    signature, no coverage) gives the parent's result even with V_a != 0."""
    torch.manual_seed(1)
    cov_att = CoverageAttention(4, 6, 5).double()
    with torch.no_grad():
        cov_att.coverage_proj.normal_()
    plain = AdditiveAttention(4, 6, 5).double()
    plain.load_state_dict({k: v for k, v in cov_att.state_dict().items() if k != "coverage_proj"})
    q, k = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 5, 6, dtype=F64)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    parent: AdditiveAttention = cov_att
    got = parent(q, k, mask)
    torch.testing.assert_close(got.weights, cov_att(q, k, mask, coverage=torch.zeros(2, 3, 5, dtype=F64)).weights)
    torch.testing.assert_close(got.weights, plain(q, k, mask).weights)
    torch.testing.assert_close(got.context, plain(q, k, mask).context)
    assert not torch.allclose(got.weights, cov_att(q, k, mask, coverage=torch.rand(2, 3, 5, dtype=F64)).weights)


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


def test_coverage_penalty_of_a_small_alignment():
    w = torch.tensor([[0.5, 0.5, 0.0], [0.9, 0.1, 0.0]])
    assert coverage_penalty(w, 0.0) == 0.0
    # received attention per source position: 1.4 -> min(., 1) = 1, 0.6, 0 -> the floor 1e-9
    assert coverage_penalty(w, 0.2) == pytest.approx(0.2 * (math.log(1.0) + math.log(0.6) + math.log(1e-9)))


def gnmt_key(score: float, weights: list[list[float]], alpha: float, beta: float) -> float:
    """[Wu16] Eq. 14 written out: s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y) with
    lp(Y) = ((5 + |Y|) / 6) ** alpha and cp = beta * sum_i log(min(sum_j p_ij, 1)), i over source
    positions and j over output steps. |Y| and j count every output token including </s> (a
    hypothesis' weights have one row per output token, then one for </s>)."""
    lp = ((5 + len(weights)) / 6) ** alpha
    received = [sum(row[i] for row in weights) for i in range(len(weights[0]))]
    return score / lp + beta * sum(math.log(min(c, 1.0)) for c in received)


EOS, A, B = 3, 4, 5  # Vocab.eos_id and two ordinary tokens
NEXT = {
    2: {EOS: 0.1, A: 0.58, B: 0.32},  # p(next | previous token); 2 = <s>
    A: {EOS: 0.6, A: 0.25, B: 0.15},
    B: {EOS: 0.7, A: 0.2, B: 0.1},
}
ATTEND = {2: [0.9, 0.1], A: [0.9, 0.1], B: [0.1, 0.9]}  # weights over 2 source positions, per previous token


class MarkovModel(torch.nn.Module):
    """A decoder whose next-token distribution and attention depend only on the previous token,
    so that every hypothesis' score and alignment can be written down by hand."""

    uses_attention = True

    class State(NamedTuple):
        rows: torch.Tensor

        def select(self, rows):
            return MarkovModel.State(self.rows[rows])

    def encode(self, src, src_lengths):
        return src.double()

    def init_state(self, memory):
        return self.State(torch.arange(memory.shape[0]))

    def step(self, prev, state, memory):
        logp = torch.full((len(prev), 6), -math.inf, dtype=F64)
        weights = torch.empty(len(prev), 2, dtype=F64)
        for r, token in enumerate(prev.tolist()):  # rows of dead beams (score -inf) get <pad>
            for nxt, p in NEXT.get(token, {EOS: 1.0}).items():
                logp[r, nxt] = math.log(p)
            weights[r] = torch.tensor(ATTEND.get(token, [0.5, 0.5]), dtype=F64)
        return logp, state, weights


def _every_hypothesis(max_len: int):
    """(tokens, log-probability with </s>, weight rows) of every output of at most max_len tokens."""
    out = []
    for n in range(max_len + 1):
        for tokens in itertools.product((A, B), repeat=n):
            path = [2, *tokens]  # the previous token at each of the n + 1 steps
            score = sum(math.log(NEXT[prev][nxt]) for prev, nxt in zip(path, [*tokens, EOS]))
            out.append((list(tokens), score, [ATTEND[prev] for prev in path]))
    return out


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_search_ranks_by_the_gnmt_coverage_penalty(alpha):
    src, lengths, max_len = torch.tensor([[4, 5]]), torch.tensor([2]), 3
    everything = _every_hypothesis(max_len)  # 1 + 2 + 4 + 8 = 15 hypotheses
    best = {}
    for beta in (0.0, 2.0):
        # a beam wider than the number of hypotheses, asking for all of them, searches exhaustively
        got = beam_search(
            MarkovModel(),
            src,
            lengths,
            max_len,
            DecodeOptions(beam_size=16, n_best=15, alpha=alpha, beta=beta, stop="exact"),
        )[0]
        ranked = sorted(everything, key=lambda h: -gnmt_key(h[1], h[2], alpha, beta))
        keys = [gnmt_key(h[1], h[2], alpha, beta) for h in ranked]
        assert min(a - b for a, b in zip(keys, keys[1:])) > 1e-6  # no ties: the order is unique
        assert [h.tokens for h in got] == [tokens for tokens, _, _ in ranked]
        for hyp, (_, score, weights) in zip(got, ranked):
            assert hyp.score == pytest.approx(score)
            torch.testing.assert_close(hyp.weights, torch.tensor(weights, dtype=F64))
        best[beta] = got[0].tokens
    # built for it: [A] is the most probable output but leaves source position 1 uncovered
    # (cp = 2 log 0.2); [B] covers both positions (cp = 0) and wins with the penalty
    assert best == {0.0: [A], 2.0: [B]}


def test_penalised_n_best_lists_of_a_real_model_follow_the_formula():
    torch.manual_seed(0)
    model = Seq2Seq(12, 9, attention="bahdanau", emb_dim=8, hidden_dim=16).double().eval()
    src, lengths = torch.tensor([[4, 5, 6, 7]]), torch.tensor([4])
    penalised = beam_search(model, src, lengths, 6, DecodeOptions(beam_size=4, n_best=4, alpha=0.0, beta=5.0))[0]
    key = [gnmt_key(h.score, h.weights.tolist(), 0.0, 5.0) for h in penalised]
    assert len(penalised) == 4 and key == sorted(key, reverse=True)
    with pytest.raises(ValueError, match="needs attention weights"):
        none = Seq2Seq(12, 9, attention="none", emb_dim=8, hidden_dim=16).eval()
        beam_search(none, src, lengths, 6, DecodeOptions(beam_size=5, beta=1.0))
