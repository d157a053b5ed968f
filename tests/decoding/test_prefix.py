"""A decoding prefix (a model's prompt, e.g. Whisper's language and task tokens): fed after ``<s>``
and not scored. Checked against teacher forcing of ``<s>`` + prefix + output, for greedy decoding
and for beam search over the Transformer's shared (folded) caches and the RNN's copied states."""

import math

import pytest
import torch

from attnkit.data import Vocab, collate
from attnkit.decoding import DecodeOptions, beam_search, decode, greedy_decode
from attnkit.models import Seq2Seq, TransformerSeq2Seq

PREFIX = [7, 5, 9]


def _transformer():
    torch.manual_seed(0)
    model = TransformerSeq2Seq(12, 11, d_model=16, n_heads=2, enc_layers=1, dec_layers=2, d_ff=32, dropout=0.0)
    return model.double().eval()


def _rnn():
    torch.manual_seed(0)
    return Seq2Seq(12, 11, attention="bahdanau", emb_dim=8, hidden_dim=16).double().eval()


def _teacher_forced(model, src, n, tokens):
    """Log-probabilities (T + 1, V) of each output position given <s> + PREFIX + tokens."""
    tgt = torch.tensor([[Vocab.bos_id, *PREFIX, *tokens]])
    with torch.no_grad():
        logits = model(src[None, :n], torch.tensor([n]), tgt).logits[0]
    return torch.log_softmax(logits, -1)[len(PREFIX) :]  # from the position after the prefix


@pytest.mark.parametrize("make", [_transformer, _rnn])
def test_greedy_with_a_prefix_is_the_argmax_after_it(make):
    model, batch = make(), collate([[4, 5, 6, 7], [8, 9], [10, 11, 4]])
    for b, hyp in enumerate(greedy_decode(model, batch.src, batch.src_lengths, 6, prefix=PREFIX)):
        n = int(batch.src_lengths[b])
        logprobs = _teacher_forced(model, batch.src[b], n, hyp.tokens)
        ended = hyp.tokens + [Vocab.eos_id] if len(hyp.tokens) < 6 else hyp.tokens
        assert logprobs[: len(ended)].argmax(-1).tolist() == ended
        expected = sum(float(logprobs[t, tok]) for t, tok in enumerate([*hyp.tokens, Vocab.eos_id]))
        assert hyp.score == pytest.approx(expected, abs=1e-9)
        assert hyp.weights.shape[-2:] == (len(hyp.tokens) + 1, n)  # the prefix's steps are not kept


@pytest.mark.parametrize("make", [_transformer, _rnn])
def test_beam_with_a_prefix_scores_its_hypotheses_after_it(make):
    model, batch = make(), collate([[4, 5, 6, 7], [8, 9]])
    options = DecodeOptions(beam_size=3, n_best=3, alpha=0.0)
    nbests = beam_search(model, batch.src, batch.src_lengths, 6, options, prefix=PREFIX)
    one = beam_search(model, batch.src, batch.src_lengths, 6, DecodeOptions(beam_size=1), prefix=PREFIX)
    greedy = greedy_decode(model, batch.src, batch.src_lengths, 6, prefix=PREFIX)
    for b, hyps in enumerate(nbests):
        assert one[b][0].tokens == greedy[b].tokens  # beam size 1 is greedy decoding
        assert hyps[0].score >= greedy[b].score - 1e-9
        n = int(batch.src_lengths[b])
        for hyp in hyps:
            logprobs = _teacher_forced(model, batch.src[b], n, hyp.tokens)
            expected = sum(float(logprobs[t, tok]) for t, tok in enumerate([*hyp.tokens, Vocab.eos_id]))
            assert hyp.score == pytest.approx(expected, abs=1e-9)


def test_decode_passes_the_prefix_and_defaults_to_none():
    model = _transformer()
    sources = [[4, 5, 6, 7], [8, 9]]
    with_prefix = decode(model, sources, DecodeOptions(), max_len=lambda n: 6, prefix=PREFIX)
    batch = collate(sources)
    assert [h[0].tokens for h in with_prefix] == [
        h.tokens for h in greedy_decode(model, batch.src, batch.src_lengths, 6, prefix=PREFIX)
    ]
    plain = decode(model, sources, DecodeOptions(), max_len=lambda n: 6)
    assert [h[0].tokens for h in plain] == [h.tokens for h in greedy_decode(model, batch.src, batch.src_lengths, 6)]
    assert not math.isclose(with_prefix[0][0].score, plain[0][0].score)
