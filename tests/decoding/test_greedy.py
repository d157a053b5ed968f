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
        alone = greedy_decode(model, batch.src[b:b + 1, :n], batch.src_lengths[b:b + 1], max_len=6)[0]
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
        logprobs = torch.log_softmax(model(batch.src[b:b + 1, :n], batch.src_lengths[b:b + 1], tgt_in).logits[0], -1)
        if len(hyp.tokens) < 6:  # ended by choice: every token, </s> included, was the argmax
            assert logprobs.argmax(-1).tolist() == out
        else:  # </s> forced after max_len tokens
            assert logprobs[:-1].argmax(-1).tolist() == hyp.tokens
        assert abs(logprobs.gather(1, torch.tensor(out)[:, None]).sum().item() - hyp.score) < 1e-9


def test_model_without_attention_returns_no_weights():
    model, batch = _model("none"), _batch()
    assert all(h.weights is None for h in greedy_decode(model, batch.src, batch.src_lengths, 4))
