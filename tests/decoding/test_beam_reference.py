"""Beam search against a plain reference written out here: no cache, no shared buffers, no
batching of sentences. At every step the reference re-runs the teacher-forced model over each
live hypothesis' whole prefix (O(T^2) work), ranks every candidate of a sentence in Python, and
applies beam_search's documented rules (the </s> candidates among the top k finish, the best k
others live on, GNMT scoring, the two stopping rules). The cached paths must give the same
n-best lists, raw scores and per-hypothesis attention weights:

- the Transformer with beams sharing one key/value buffer per sentence (``fold_beams``; the
  ancestry table of :mod:`attnkit.decoding.beam_state`), for every positional encoding;
- the same Transformer with one cache per row, reordered row by row (``fold_beams`` hidden);
- RNN models, whose recurrent state is reordered row by row.
"""

import math

import pytest
import torch
from torch import nn

from attnkit.data import Vocab, collate
from attnkit.decoding import DecodeOptions, beam_search, length_penalty
from attnkit.models import Seq2Seq, TransformerSeq2Seq
from attnkit.nn import POSITIONAL

V = 9  # ids 0-3 are specials


class _PerRowCaches(nn.Module):
    """The Transformer without ``fold_beams``: beam search copies the memory k times and reorders
    k = 1 caches row by row."""

    def __init__(self, model: TransformerSeq2Seq) -> None:
        super().__init__()
        self.model = model
        self.uses_attention = True

    def encode(self, src, src_lengths):
        return self.model.encode(src, src_lengths)

    def init_state(self, memory):
        return self.model.init_state(memory)

    def step(self, prev, state, memory):
        return self.model.step(prev, state, memory)


def _transformer(positional="sinusoidal", num_kv_heads=None, seed=0, eos_bias=0.0):
    torch.manual_seed(seed)
    model = TransformerSeq2Seq(
        12,
        V,
        d_model=16,
        n_heads=2,
        num_kv_heads=num_kv_heads,
        enc_layers=1,
        dec_layers=2,
        d_ff=16,
        dropout=0.0,
        positional=positional,
    )
    return _peaky(model, eos_bias)


def _rnn(arch, seed=0, eos_bias=0.0):
    torch.manual_seed(seed)
    return _peaky(Seq2Seq(12, V, attention=arch, emb_dim=8, hidden_dim=16), eos_bias)


def _peaky(model, eos_bias):
    with torch.no_grad():  # peakier distributions: hypotheses finish at different steps
        model.generator.weight.mul_(3.0)
        model.generator.bias.normal_(0.0, 1.0)
        model.generator.bias[Vocab.eos_id] += eos_bias
    return model.double().eval()


@torch.no_grad()
def _next(model, src, tokens):
    """Full re-decoding of the prefixes `tokens` (N, t) of one source (1, Tk): the log-probabilities
    (N, V) of the next token and the weights that predicted it, (N, Nh, Tk) for the Transformer
    (last layer, per head) or (N, Tk)."""
    n = tokens.shape[0]
    tgt_in = torch.cat([torch.full((n, 1), Vocab.bos_id), tokens], 1)
    srcs, lengths = src.expand(n, -1), torch.full((n,), src.shape[1])
    logp = torch.log_softmax(model(srcs, lengths, tgt_in).logits[:, -1], -1)
    if isinstance(model, TransformerSeq2Seq):
        weights = model.attention_maps(srcs, lengths, tgt_in).cross[-1][:, :, -1]
    else:
        weights = model(srcs, lengths, tgt_in).weights
        weights = [None] * n if weights is None else weights[:, -1]
    return logp, weights


def _reference(model, src, max_len, k, n_best, alpha, beta, stop):
    """Plain beam search over one source sentence (1, Tk): [(tokens, raw score, weights (To, Tk)
    or (Nh, To, Tk))], best first."""
    live = [(0.0, [], [])]  # sum of log-probabilities, tokens, weight rows (one per step)
    finished = []  # (normalised score, raw score, tokens, weights)
    for t in range(max_len + 1):
        prefixes = torch.tensor([toks for _, toks, _ in live], dtype=torch.long).view(len(live), t)
        logp, weights = _next(model, src, prefixes)
        candidates = []
        for (score, toks, rows), lp, w in zip(live, logp.tolist(), weights):
            for token in range(V):
                if t == max_len and token != Vocab.eos_id:
                    continue  # </s> is forced at max_len
                if lp[token] > -math.inf:
                    candidates.append((score + lp[token], toks + [token], rows + [w]))
        candidates.sort(key=lambda c: -c[0])
        for score, toks, rows in candidates[:k]:
            if toks[-1] == Vocab.eos_id:
                w = None if rows[0] is None else torch.stack(rows, -2)  # ([Nh,] To, Tk)
                norm = score / length_penalty(len(toks), alpha)
                if beta:
                    received = (w.mean(0) if w.dim() == 3 else w).sum(0).tolist()
                    norm += beta * sum(math.log(min(max(r, 1e-9), 1.0)) for r in received)
                finished.append((norm, score, toks[:-1], w))
        live = [c for c in candidates if c[1][-1] != Vocab.eos_id][:k]
        if not live:
            break
        length = max_len + 1 if stop == "exact" else t + 2
        best = sorted((f[0] for f in finished), reverse=True)
        if len(best) >= n_best and best[n_best - 1] >= live[0][0] / length_penalty(length, alpha):
            break
    finished.sort(key=lambda f: -f[0])
    return [(toks, score, w) for _, score, toks, w in finished[:n_best]]


SOURCES = [[4, 5, 6, 7], [8, 9], [10, 11, 4], [5], [6, 7, 8, 9, 10], [11, 4]]  # 6: sentences freeze, then leave


def _check(model, decoder, max_len=6, k=3, n_best=2, alpha=0.6, beta=0.0, stop="heuristic"):
    batch = collate(SOURCES)
    got = beam_search(
        decoder,
        batch.src,
        batch.src_lengths,
        max_len,
        DecodeOptions(beam_size=k, n_best=n_best, alpha=alpha, beta=beta, stop=stop),
    )
    for b, source in enumerate(SOURCES):
        ref = _reference(model, torch.tensor([source]), max_len, k, n_best, alpha, beta, stop)
        case = dict(sentence=b, k=k, alpha=alpha, beta=beta, stop=stop)
        assert [h.tokens for h in got[b]] == [toks for toks, _, _ in ref], case
        for h, (_, score, w) in zip(got[b], ref):
            assert h.score == pytest.approx(score, abs=1e-9), case
            if w is None:
                assert h.weights is None, case
            else:
                torch.testing.assert_close(h.weights, w)


SETTINGS = [dict(), dict(k=4, n_best=4, alpha=1.0, beta=0.3, stop="exact"), dict(k=2, n_best=1, alpha=0.0)]


@pytest.mark.parametrize("positional", POSITIONAL.names())
@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "wide-coverage-exact", "narrow"])
def test_transformer_shared_buffers_equal_the_reference(positional, settings):
    model = _transformer(positional, eos_bias=3.0)  # hypotheses end at different steps
    _check(model, model, **settings)


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "wide-coverage-exact", "narrow"])
def test_transformer_per_row_caches_equal_the_reference(settings):
    model = _transformer("rope", eos_bias=3.0)
    _check(model, _PerRowCaches(model), **settings)


@pytest.mark.parametrize("decoder", ["shared", "rows"])
def test_transformer_grouped_heads_and_growing_buffers_equal_the_reference(decoder):
    """Outputs longer than the initial buffers (source length + 8 positions): they grow."""
    model = _transformer("alibi", num_kv_heads=1, seed=2, eos_bias=-6.0)
    _check(model, model if decoder == "shared" else _PerRowCaches(model), max_len=16, k=3, alpha=0.6, stop="exact")


@pytest.mark.parametrize("arch", ["bahdanau", "luong-general", "none"])
def test_rnn_equals_the_reference(arch):
    model = _rnn(arch)
    for settings in SETTINGS[:2] if arch != "none" else [dict()]:
        _check(model, model, **settings)
