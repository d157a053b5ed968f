"""Beam search: exact on a tiny problem, equals greedy at k = 1, batched equals one at a time,
n-best lists, length penalty, and per-hypothesis attention; for RNN and Transformer models."""

import itertools
import math

import pytest
import torch

from attnkit.data import Vocab, collate
from attnkit.decoding import STOP_RULES, DecodeOptions, beam_search, greedy_decode, length_penalty
from attnkit.models import Seq2Seq, TransformerSeq2Seq


def _model(arch="bahdanau", vocab=9):
    torch.manual_seed(0)
    if arch == "transformer":
        model = TransformerSeq2Seq(12, vocab, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=16, dropout=0.0)
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
    beam = beam_search(model, batch.src, batch.src_lengths, max_len=6, options=DecodeOptions(beam_size=1, alpha=0.0))
    for g, (b,) in zip(greedy, beam):
        assert b.tokens == g.tokens and b.score == pytest.approx(g.score, abs=1e-9)
        if g.weights is not None:
            torch.testing.assert_close(b.weights, g.weights)


@pytest.mark.parametrize("arch", ["bahdanau", "transformer"])
def test_a_wide_beam_finds_the_exact_best_sequence(arch):
    """Vocabulary of 2 real tokens and max_len 3: enumerate every output and compare."""
    model = _model(arch, vocab=6)  # ids 0-3 are specials, 4 and 5 real tokens
    src, length, max_len = torch.tensor([[4, 5, 6]]), 3, 3
    candidates = [
        list(seq) + [Vocab.eos_id]
        for n in range(max_len + 1)
        for seq in itertools.product([Vocab.unk_id, 4, 5, Vocab.bos_id, Vocab.pad_id], repeat=n)
    ]
    exact = {tuple(c): _sequence_logprob(model, src, length, c) for c in candidates}
    for alpha in (0.0, 1.0):
        ranked = sorted(exact.items(), key=lambda kv: -kv[1] / length_penalty(len(kv[0]), alpha))
        hyps = beam_search(
            model,
            src,
            torch.tensor([length]),
            max_len,
            DecodeOptions(beam_size=200, n_best=3, alpha=alpha, stop="exact"),
        )[0]
        assert [h.tokens + [Vocab.eos_id] for h in hyps] == [list(seq) for seq, _ in ranked[:3]]
        for h in hyps:
            assert h.score == pytest.approx(exact[tuple(h.tokens + [Vocab.eos_id])], abs=1e-9)


@pytest.mark.parametrize("arch", ["bahdanau", "transformer"])
def test_batched_equals_one_at_a_time(arch):
    model, batch = _model(arch), _batch()
    together = beam_search(model, batch.src, batch.src_lengths, max_len=6, options=DecodeOptions(beam_size=4, n_best=3))
    for b in range(3):
        n = int(batch.src_lengths[b])
        alone = beam_search(
            model,
            batch.src[b : b + 1, :n],
            batch.src_lengths[b : b + 1],
            max_len=6,
            options=DecodeOptions(beam_size=4, n_best=3),
        )[0]
        assert [h.tokens for h in alone] == [h.tokens for h in together[b]]
        for x, y in zip(alone, together[b]):
            assert x.score == pytest.approx(y.score, abs=1e-9)
            torch.testing.assert_close(x.weights, y.weights)


def test_n_best_lists_are_distinct_ranked_and_carry_their_own_attention():
    model, batch = _model(), _batch()
    alpha = 0.6
    for b, hyps in enumerate(
        beam_search(
            model, batch.src, batch.src_lengths, max_len=6, options=DecodeOptions(beam_size=5, n_best=5, alpha=alpha)
        )
    ):
        assert len(hyps) == 5 and len({tuple(h.tokens) for h in hyps}) == 5
        norm = [h.score / length_penalty(len(h.tokens) + 1, alpha) for h in hyps]
        assert norm == sorted(norm, reverse=True)
        n = int(batch.src_lengths[b])
        for h in hyps:
            assert h.weights.shape == (len(h.tokens) + 1, n)
            torch.testing.assert_close(h.weights.sum(-1), torch.ones(len(h.tokens) + 1, dtype=torch.float64))
            out = h.tokens + [Vocab.eos_id]
            assert h.score == pytest.approx(_sequence_logprob(model, batch.src[b : b + 1, :n], n, out), abs=1e-9)
            tgt_in = torch.tensor([[Vocab.bos_id, *h.tokens]])  # the weights are this hypothesis' own
            forced = model(batch.src[b : b + 1, :n], batch.src_lengths[b : b + 1], tgt_in).weights[0]
            torch.testing.assert_close(h.weights, forced)


def test_length_penalty_and_argument_checks():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    assert length_penalty(13, 0.5) == pytest.approx(math.sqrt(3.0))
    for kwargs, field in (
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 2, "n_best": 3}, "n_best"),
        ({"alpha": -1.0}, "alpha"),
    ):
        with pytest.raises(ValueError, match=field):  # the options refuse them before any decoding
            DecodeOptions(**kwargs)


@pytest.mark.parametrize("arch", ["bahdanau", "transformer"])
def test_exact_stopping_is_never_worse_than_the_heuristic(arch):
    model, batch = _model(arch), _batch()
    alpha = 1.0  # a strong length penalty: the heuristic may stop early

    def norm(h):
        return h.score / length_penalty(len(h.tokens) + 1, alpha)

    exact = beam_search(model, batch.src, batch.src_lengths, 8, DecodeOptions(beam_size=3, alpha=alpha, stop="exact"))
    quick = beam_search(
        model, batch.src, batch.src_lengths, 8, DecodeOptions(beam_size=3, alpha=alpha, stop="heuristic")
    )
    for (e,), (q,) in zip(exact, quick):
        assert norm(e) >= norm(q) - 1e-12
    with pytest.raises(ValueError, match="stop must be"):
        beam_search(model, batch.src, batch.src_lengths, 8, DecodeOptions(beam_size=5, stop="soon"))


# --- n-best lists against exhaustive enumeration -------------------------------------------------
#
# With V = 6 (ids 0-3 specials, 4 and 5 real tokens) every id but </s> can be emitted, so there are
# 5 ** n outputs of n tokens. A beam at least as wide as the number of candidates of any step,
# V * 5 ** (max_len - 1), keeps every live prefix and finishes every </s>: it sees all outputs, and
# with the "exact" stopping rule (or alpha = 0) its n-best list must be the true top n.

V = 6
EMITTABLE = [i for i in range(V) if i != Vocab.eos_id]


@pytest.fixture
def one_thread():
    """Tiny models: threads only add overhead (and stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_model(arch, seed):
    torch.manual_seed(seed)
    if arch == "transformer":
        model = TransformerSeq2Seq(10, V, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=16, dropout=0.0)
    else:
        model = Seq2Seq(10, V, attention=arch, emb_dim=8, hidden_dim=16)
    with torch.no_grad():  # peakier output distributions: hypotheses finish at different steps
        model.generator.weight.mul_(4.0)
        model.generator.bias.normal_(0.0, 1.0)
    return model.double().eval()


@torch.no_grad()
def _enumerate(model, src, max_len):
    """Every output of up to `max_len` tokens, scored by one teacher-forced pass over all of them.

    Returns:
        {tokens: (log P of each prefix, from the empty one to tokens + </s>: len(tokens) + 2
        values; the alignment weights as nested lists (len(tokens) + 1) x Tk, for the Transformer
        the last layer's cross-attention averaged over its heads)}.
    """
    outputs = [seq for n in range(max_len + 1) for seq in itertools.product(EMITTABLE, repeat=n)]
    steps = max_len + 1
    targets = torch.full((len(outputs), steps), Vocab.pad_id)  # right-padded: causal, so harmless
    for i, seq in enumerate(outputs):
        targets[i, : len(seq) + 1] = torch.tensor([*seq, Vocab.eos_id])
    tgt_in = torch.cat([torch.full((len(outputs), 1), Vocab.bos_id), targets[:, :-1]], 1)
    srcs, lengths = src.expand(len(outputs), -1), torch.full((len(outputs),), src.shape[1])
    out = model(srcs, lengths, tgt_in)
    if isinstance(model, TransformerSeq2Seq):
        weights = model.attention_maps(srcs, lengths, tgt_in).cross[-1].mean(1)  # (N, Tq, Tk)
    else:
        weights = out.weights  # (N, Tq, Tk)
    logp = torch.log_softmax(out.logits, -1).gather(2, targets[:, :, None])[:, :, 0].tolist()  # (N, Tq)
    weights = weights.tolist()
    table = {}
    for i, seq in enumerate(outputs):
        prefixes = [0.0]
        for x in logp[i][: len(seq) + 1]:
            prefixes.append(prefixes[-1] + x)
        table[seq] = (prefixes, weights[i][: len(seq) + 1])
    return table


def _gnmt_score(prefixes, weights, alpha, beta):
    """log P(Y) / lp(Y) + cp(Y) of [Wu16] Eq. 14, written out: |Y| counts </s>, and the coverage
    sums, per source position j, the weights of every output step i (</s> included)."""
    n_tokens = len(prefixes) - 1  # the tokens and </s>
    lp = ((5 + n_tokens) / 6) ** alpha
    cp = 0.0
    for j in range(len(weights[0])):
        received = sum(row[j] for row in weights)
        cp += math.log(min(received, 1.0))
    return prefixes[-1] / lp + beta * cp


def _reference_n_best(table, scored, max_len, n_best, alpha, stop):
    """The n-best list by the stopping rule's definition, from the enumeration: at step t the
    outputs of t tokens finish; stop once n have finished and the n-th best of them is at least
    max over the live prefixes p (of t + 1 tokens) of log P(p) / lp(t + 2) ("heuristic"),
    / lp(t + 1) ("current") or / lp(max_len + 1) ("exact"). Returns (ranked [(score, tokens)], the
    smallest gap seen between a bound and the n-th best)."""
    closest = math.inf
    for t in range(max_len + 1):
        done = sorted(((s, seq) for seq, s in scored.items() if len(seq) <= t), reverse=True)
        live = [table[seq][0][t + 1] for seq in table if len(seq) == t + 1]  # log P of each live prefix
        if len(done) >= n_best:
            if not live:
                break
            length = {"heuristic": t + 2, "current": t + 1, "exact": max_len + 1}[stop]
            bound = max(live) / ((5 + length) / 6) ** alpha
            closest = min(closest, abs(done[n_best - 1][0] - bound))
            if done[n_best - 1][0] >= bound:
                break
    return done[:n_best], closest


def _check_against_enumeration(arch, max_len, penalties, seeds, n_best_values):
    """Beam search on a batch of 6 sources for every random model, penalty pair, stopping rule and
    n_best; returns (cases compared, cases left out for a near tie)."""
    k = V * len(EMITTABLE) ** (max_len - 1)  # candidates of the widest step
    g = torch.Generator().manual_seed(1)
    compared = ties = 0
    for seed in seeds:
        model = _random_model(arch, seed)
        sources = [torch.randint(4, 10, (1, n), generator=g) for n in (3, 1, 4, 2, 5, 3)]
        batch = collate([s[0].tolist() for s in sources])
        tables = [_enumerate(model, s, max_len) for s in sources]
        for alpha, beta in penalties:
            scored = [{seq: _gnmt_score(p, w, alpha, beta) for seq, (p, w) in table.items()} for table in tables]
            everything = [sorted(((s, seq) for seq, s in sc.items()), reverse=True) for sc in scored]
            for stop in STOP_RULES:
                for n_best in n_best_values(k):
                    got = beam_search(
                        model,
                        batch.src,
                        batch.src_lengths,
                        max_len,
                        DecodeOptions(beam_size=k, n_best=n_best, alpha=alpha, beta=beta, stop=stop),
                    )
                    for b, hyps in enumerate(got):
                        ref, closest = _reference_n_best(tables[b], scored[b], max_len, n_best, alpha, stop)
                        if closest < 1e-9 or any(x[0] - y[0] < 1e-9 for x, y in zip(ref, ref[1:])):
                            ties += 1  # a stop decision or a rank within rounding: either answer is right
                            continue
                        case = dict(arch=arch, seed=seed, source=b, alpha=alpha, beta=beta, stop=stop, n_best=n_best)
                        assert [tuple(h.tokens) for h in hyps] == [seq for _, seq in ref], case
                        for h, (score, seq) in zip(hyps, ref):
                            prefixes, _ = tables[b][seq]
                            assert h.score == pytest.approx(prefixes[-1], abs=1e-9), case  # raw log P
                            own = (h.weights.mean(0) if h.weights.dim() == 3 else h.weights).tolist()  # mean of heads
                            assert _gnmt_score(prefixes, own, alpha, beta) == pytest.approx(score, abs=1e-9), case
                        if stop == "exact" or alpha == 0:  # then it is the true top n of every output
                            assert [seq for _, seq in ref] == [seq for _, seq in everything[b][:n_best]], case
                        compared += 1
    return compared, ties


EXHAUSTIVE_CASES = [  # (arch, (alpha, beta) pairs)
    ("bahdanau", [(0.0, 0.0), (0.6, 0.0), (1.5, 0.3)]),
    ("luong-general", [(0.6, 0.4), (2.0, 0.0)]),
    ("transformer", [(0.0, 0.0), (0.6, 0.3), (2.0, 0.0)]),
]


@pytest.mark.parametrize("arch, penalties", EXHAUSTIVE_CASES, ids=[c[0] for c in EXHAUSTIVE_CASES])
def test_n_best_lists_equal_exhaustive_enumeration(arch, penalties, one_thread):
    """Small random models, a batch of 6 sources each, max_len 3, both stopping rules, n_best from 1
    up to the beam size: the lists and the scores are the enumeration's. With "exact" (and whenever
    alpha = 0) that is the top n of all outputs; "heuristic" with alpha > 0 may stop before longer
    outputs are seen, and then it is the top n of those finished by the step where it stops."""
    compared, ties = _check_against_enumeration(
        arch, 3, penalties, seeds=range(4), n_best_values=lambda k: sorted({*range(1, 7), 10, 25, k // 2, k})
    )
    assert compared > 0 and ties <= 0.05 * (compared + ties)


@pytest.mark.slow
@pytest.mark.parametrize("arch, penalties", EXHAUSTIVE_CASES, ids=[c[0] for c in EXHAUSTIVE_CASES])
def test_n_best_lists_equal_exhaustive_enumeration_at_every_n(arch, penalties, one_thread):
    """As above with every n_best from 1 to the beam size (150) and more models, and a few at
    max_len 4 (beam 750)."""
    compared, ties = _check_against_enumeration(
        arch, 3, penalties, seeds=range(4, 14), n_best_values=lambda k: range(1, k + 1)
    )
    more, more_ties = _check_against_enumeration(
        arch, 4, penalties[-1:], seeds=range(14, 17), n_best_values=lambda k: sorted({*range(1, 11), 50, 300, k})
    )
    assert compared + more > 0 and ties + more_ties <= 0.05 * (compared + ties + more + more_ties)


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_transformer_hypotheses_carry_per_head_weights_rnn_ones_one_map(decode):
    """A Transformer's hypotheses keep the last layer's cross-attention per head, (Nh, To, Tk_b),
    equal to a teacher-forced pass over the hypothesis; none of them is the mean of the others.
    RNN hypotheses keep their single map (To, Tk_b)."""
    batch = _batch()
    for arch in ("transformer", "bahdanau"):
        model = _model(arch)
        if decode == "greedy":
            nbest = [[h] for h in greedy_decode(model, batch.src, batch.src_lengths, max_len=6)]
        else:
            nbest = beam_search(
                model, batch.src, batch.src_lengths, max_len=6, options=DecodeOptions(beam_size=4, n_best=3, beta=0.2)
            )
        for b, hyps in enumerate(nbest):
            n = int(batch.src_lengths[b])
            src, lengths = batch.src[b : b + 1, :n], batch.src_lengths[b : b + 1]
            for h in hyps:
                tgt_in = torch.tensor([[Vocab.bos_id, *h.tokens]])
                if arch == "transformer":
                    forced = model.attention_maps(src, lengths, tgt_in).cross[-1][0]  # (Nh, To, Tk)
                    assert h.weights.shape == (model.n_heads, len(h.tokens) + 1, n)
                    assert not torch.allclose(h.weights[0], h.weights[1])  # the heads differ
                else:
                    forced = model(src, lengths, tgt_in).weights[0]  # (To, Tk)
                    assert h.weights.shape == (len(h.tokens) + 1, n)
                torch.testing.assert_close(h.weights, forced)
