"""Beam search: exact on a tiny problem, equals greedy at k = 1, batched equals one at a time,
n-best lists, length penalty, and per-hypothesis attention; for RNN and Transformer models."""

import itertools
import math

import pytest
import torch

from attnkit.data import Vocab, collate
from attnkit.decoding import beam_search, greedy_decode, length_penalty
from attnkit.models import Seq2Seq, TransformerSeq2Seq


def _model(arch="bahdanau", vocab=9):
    torch.manual_seed(0)
    if arch == "transformer":
        model = TransformerSeq2Seq(12, vocab, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=16,
                                   dropout=0.0)
    else:
        model = Seq2Seq(12, vocab, attention=arch, emb_dim=8, hidden_dim=16)
    return model.double().eval()


def _batch():
    return collate([[4, 5, 6, 7], [8, 9], [10, 11, 4]])


def _sequence_logprob(model, src, length, out):
    """Log-probability of `out` (ending with </s>) by teacher forcing."""
    tgt_in = torch.tensor([[Vocab.bos_id, *out[:-1]]])
    logp = torch.log_softmax(model(src, torch.tensor([length]), tgt_in).logits[0], -1)
    return logp.gather(1, torch.tensor(out)[:, None]).sum().item()


@pytest.mark.parametrize("arch", ["bahdanau", "luong-general", "none", "transformer"])
def test_beam_of_one_equals_greedy(arch):
    model, batch = _model(arch), _batch()
    greedy = greedy_decode(model, batch.src, batch.src_lengths, max_len=6)
    beam = beam_search(model, batch.src, batch.src_lengths, max_len=6, beam_size=1, alpha=0.0)
    for g, (b,) in zip(greedy, beam):
        assert b.tokens == g.tokens and b.score == pytest.approx(g.score, abs=1e-9)
        if g.weights is not None:
            torch.testing.assert_close(b.weights, g.weights)


@pytest.mark.parametrize("arch", ["bahdanau", "transformer"])
def test_a_wide_beam_finds_the_exact_best_sequence(arch):
    """Vocabulary of 2 real tokens and max_len 3: enumerate every output and compare."""
    model = _model(arch, vocab=6)  # ids 0-3 are specials, 4 and 5 real tokens
    src, length, max_len = torch.tensor([[4, 5, 6]]), 3, 3
    candidates = [list(seq) + [Vocab.eos_id] for n in range(max_len + 1)
                  for seq in itertools.product([Vocab.unk_id, 4, 5, Vocab.bos_id, Vocab.pad_id], repeat=n)]
    exact = {tuple(c): _sequence_logprob(model, src, length, c) for c in candidates}
    for alpha in (0.0, 1.0):
        ranked = sorted(exact.items(), key=lambda kv: -kv[1] / length_penalty(len(kv[0]), alpha))
        hyps = beam_search(model, src, torch.tensor([length]), max_len, beam_size=200, n_best=3, alpha=alpha,
                           stop="exact")[0]
        assert [h.tokens + [Vocab.eos_id] for h in hyps] == [list(seq) for seq, _ in ranked[:3]]
        for h in hyps:
            assert h.score == pytest.approx(exact[tuple(h.tokens + [Vocab.eos_id])], abs=1e-9)


@pytest.mark.parametrize("arch", ["bahdanau", "transformer"])
def test_batched_equals_one_at_a_time(arch):
    model, batch = _model(arch), _batch()
    together = beam_search(model, batch.src, batch.src_lengths, max_len=6, beam_size=4, n_best=3)
    for b in range(3):
        n = int(batch.src_lengths[b])
        alone = beam_search(model, batch.src[b:b + 1, :n], batch.src_lengths[b:b + 1], max_len=6, beam_size=4,
                            n_best=3)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in together[b]]
        for x, y in zip(alone, together[b]):
            assert x.score == pytest.approx(y.score, abs=1e-9)
            torch.testing.assert_close(x.weights, y.weights)


def test_n_best_lists_are_distinct_ranked_and_carry_their_own_attention():
    model, batch = _model(), _batch()
    alpha = 0.6
    for b, hyps in enumerate(beam_search(model, batch.src, batch.src_lengths, max_len=6, beam_size=5, n_best=5,
                                         alpha=alpha)):
        assert len(hyps) == 5 and len({tuple(h.tokens) for h in hyps}) == 5
        norm = [h.score / length_penalty(len(h.tokens) + 1, alpha) for h in hyps]
        assert norm == sorted(norm, reverse=True)
        n = int(batch.src_lengths[b])
        for h in hyps:
            assert h.weights.shape == (len(h.tokens) + 1, n)
            torch.testing.assert_close(h.weights.sum(-1), torch.ones(len(h.tokens) + 1, dtype=torch.float64))
            out = h.tokens + [Vocab.eos_id]
            assert h.score == pytest.approx(_sequence_logprob(model, batch.src[b:b + 1, :n], n, out), abs=1e-9)
            tgt_in = torch.tensor([[Vocab.bos_id, *h.tokens]])  # the weights are this hypothesis' own
            forced = model(batch.src[b:b + 1, :n], batch.src_lengths[b:b + 1], tgt_in).weights[0]
            torch.testing.assert_close(h.weights, forced)


def test_length_penalty_and_argument_checks():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    assert length_penalty(13, 0.5) == pytest.approx(math.sqrt(3.0))
    model, batch = _model(), _batch()
    for kwargs in ({"beam_size": 0}, {"beam_size": 2, "n_best": 3}, {"alpha": -1.0}):
        with pytest.raises(ValueError, match="beam_size"):
            beam_search(model, batch.src, batch.src_lengths, 5, **kwargs)


@pytest.mark.parametrize("arch", ["bahdanau", "transformer"])
def test_exact_stopping_is_never_worse_than_the_heuristic(arch):
    model, batch = _model(arch), _batch()
    alpha = 1.0  # a strong length penalty: the heuristic may stop early

    def norm(h):
        return h.score / length_penalty(len(h.tokens) + 1, alpha)

    exact = beam_search(model, batch.src, batch.src_lengths, 8, beam_size=3, alpha=alpha, stop="exact")
    quick = beam_search(model, batch.src, batch.src_lengths, 8, beam_size=3, alpha=alpha, stop="heuristic")
    for (e,), (q,) in zip(exact, quick):
        assert norm(e) >= norm(q) - 1e-12
    with pytest.raises(ValueError, match="stop must be"):
        beam_search(model, batch.src, batch.src_lengths, 8, stop="soon")
