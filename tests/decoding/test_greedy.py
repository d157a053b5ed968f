"""Greedy decoding: batched equals one at a time, agrees with teacher forcing on its own output."""

import torch

from attnkit.data import Vocab, collate
from attnkit.decoding import greedy_decode
from attnkit.models import Seq2Seq


def _model(attention="bahdanau"):
    torch.manual_seed(0)
    return Seq2Seq(12, 9, attention=attention, emb_dim=8, hidden_dim=16).double().eval()


def _batch():
    return collate([[4, 5, 6, 7], [8, 9], [10, 11, 4]])


def test_batched_equals_one_at_a_time():
    model, batch = _model(), _batch()
    together = greedy_decode(model, batch.src, batch.src_lengths, max_len=6)
    for b in range(3):
        n = int(batch.src_lengths[b])
        alone = greedy_decode(model, batch.src[b : b + 1, :n], batch.src_lengths[b : b + 1], max_len=6)[0]
        assert alone.tokens == together[b].tokens
        torch.testing.assert_close(alone.weights, together[b].weights)
        assert abs(alone.score - together[b].score) < 1e-9


def test_weights_rows_cover_every_output_and_sum_to_one():
    model, batch = _model(), _batch()
    for b, hyp in enumerate(greedy_decode(model, batch.src, batch.src_lengths, max_len=6)):
        assert len(hyp.tokens) <= 6
        assert hyp.weights.shape == (len(hyp.tokens) + 1, int(batch.src_lengths[b]))
        torch.testing.assert_close(hyp.weights.sum(-1), torch.ones(hyp.weights.shape[0], dtype=torch.float64))


def test_greedy_tokens_are_the_argmax_under_teacher_forcing():
    model, batch = _model("luong-general"), _batch()
    hyps = greedy_decode(model, batch.src, batch.src_lengths, max_len=6)
    for b, hyp in enumerate(hyps):
        n = int(batch.src_lengths[b])
        out = hyp.tokens + [Vocab.eos_id]
        tgt_in = torch.tensor([[Vocab.bos_id, *hyp.tokens]])
        logprobs = torch.log_softmax(
            model(batch.src[b : b + 1, :n], batch.src_lengths[b : b + 1], tgt_in).logits[0], -1
        )
        if len(hyp.tokens) < 6:  # ended by choice: every token, </s> included, was the argmax
            assert logprobs.argmax(-1).tolist() == out
        else:  # </s> forced after max_len tokens
            assert logprobs[:-1].argmax(-1).tolist() == hyp.tokens
        assert abs(logprobs.gather(1, torch.tensor(out)[:, None]).sum().item() - hyp.score) < 1e-9


def test_model_without_attention_returns_no_weights():
    model, batch = _model("none"), _batch()
    assert all(h.weights is None for h in greedy_decode(model, batch.src, batch.src_lengths, 4))


def test_rows_that_ended_leave_the_batch_without_changing_anything():
    """Eight sentences that end at different steps (the </s> logit is raised so that they do):
    the batch shrinks as they end, a quarter at a time, and nothing changes."""
    from attnkit.models import TransformerSeq2Seq

    torch.manual_seed(0)
    transformer = (
        TransformerSeq2Seq(12, 9, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=16, dropout=0.0)
        .double()
        .eval()
    )
    rnn = _model()
    sources = [[4 + (i * j) % 8 for j in range(1 + i)] for i in range(8)]
    batch = collate(sources)
    for model, out, raise_eos in ((rnn, rnn.generator, 0.4), (transformer, transformer.generator, 0.5)):
        with torch.no_grad():
            out.bias[Vocab.eos_id] += raise_eos
        together = greedy_decode(model, batch.src, batch.src_lengths, max_len=9)
        assert len({len(h.tokens) for h in together}) > 1  # they do end at different steps
        for b, src in enumerate(sources):
            alone = greedy_decode(model, torch.tensor([src]), torch.tensor([len(src)]), max_len=9)[0]
            assert alone.tokens == together[b].tokens and abs(alone.score - together[b].score) < 1e-9
            torch.testing.assert_close(alone.weights, together[b].weights)


def test_decode_is_greedy_for_one_beam_and_keeps_input_order():
    from attnkit.decoding import DecodeOptions, decode

    model = _model()
    sources = [[5, 6, 7, 8, 9], [6], [7, 8, 9]]
    got = decode(model, sources, DecodeOptions(batch_size=2), max_len=lambda n: 9)
    for src, nbest in zip(sources, got):
        (hyp,) = nbest
        alone = greedy_decode(model, torch.tensor([src]), torch.tensor([len(src)]), max_len=9)[0]
        assert hyp.tokens == alone.tokens and abs(hyp.score - alone.score) < 1e-9
        torch.testing.assert_close(hyp.weights, alone.weights)
    # max_len: the callable takes the longest source of each batch; options.max_len wins over it
    lengths = []
    decode(model, sources, DecodeOptions(batch_size=2), max_len=lambda n: lengths.append(n) or 3)
    assert lengths == [3, 5]  # batches [6], [7 8 9] then [5 6 7 8 9] (sorted by length)
    capped = decode(model, sources, DecodeOptions(max_len=1), max_len=lambda n: 9)
    assert all(len(n[0].tokens) <= 1 for n in capped)
