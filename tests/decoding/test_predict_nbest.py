"""A task's predict with n_best > 1: the n-best list of beam search for one raw source, as
translations with their own scores and alignment weights; checked against beam_search on the
encoded source and against the sum of log-probabilities by teacher forcing."""

import pytest
import torch

from attnkit.data import Vocab
from attnkit.decoding import DecodeOptionError, DecodeOptions, Translation, beam_search
from attnkit.models import Seq2Seq, TransformerSeq2Seq
from attnkit.predictions import TEXT_ALIGNMENT
from tests.helpers import IdPairsTask


class DigitsTask(IdPairsTask):
    """Sources are strings of digits, one token per character; targets the same alphabet."""

    max_target_len = 7

    def __init__(self):
        self.src_vocab = Vocab.build([list("0123456789")])
        self.tgt_vocab = Vocab.build([list("0123456789")])

    def source_tokens(self, text, locale=""):
        return list(text)

    def decode_target(self, ids):
        return "".join(self.tgt_vocab.decode(ids))


TASK = DigitsTask()


def _model(arch):
    torch.manual_seed(0)
    v_src, v_tgt = len(TASK.src_vocab), len(TASK.tgt_vocab)
    if arch == "transformer":
        return TransformerSeq2Seq(
            v_src, v_tgt, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=16, dropout=0.0
        ).eval()
    return Seq2Seq(v_src, v_tgt, attention="bahdanau", emb_dim=8, hidden_dim=16).eval()


@pytest.mark.parametrize("arch", ["bahdanau", "transformer"])
def test_the_nbest_list_is_beam_searchs(arch):
    model, text = _model(arch), "31415"
    ids = TASK.src_vocab.encode(list(text))
    options = DecodeOptions(beam_size=4, n_best=3, alpha=0.6)
    ref = beam_search(model, torch.tensor([ids]), torch.tensor([len(ids)]), TASK.max_target_len, options)[0]
    (best,) = TASK.predict(model, [text], decode=options)
    got = best.nbest
    assert isinstance(best, Translation) and best.kind == TEXT_ALIGNMENT
    assert len(got) == len(ref) == 3
    assert best.output == got[0].output and best.score == got[0].score
    for tr, hyp in zip(got, ref):
        assert tr.output == TASK.decode_target(hyp.tokens) and tr.src_tokens == list(text)
        assert tr.out_tokens == [TASK.tgt_vocab.itos[t] for t in hyp.tokens] + ["</s>"]
        assert list(tr.src_ids) == ids and list(tr.out_ids) == hyp.tokens and tr.nbest == ()
        assert tr.score == pytest.approx(hyp.score)
        torch.testing.assert_close(tr.weights, hyp.weights)
        assert tr.weights.shape[-2:] == (len(tr.out_tokens), len(tr.src_tokens))
        # the score is the sum of log-probabilities of the output and </s>, by teacher forcing
        out = [*hyp.tokens, Vocab.eos_id]
        tgt_in = torch.tensor([[Vocab.bos_id, *out[:-1]]])
        with torch.no_grad():
            logits = model(torch.tensor([ids]), torch.tensor([len(ids)]), tgt_in).logits[0]
        forced = torch.log_softmax(logits.double(), -1).gather(1, torch.tensor(out)[:, None]).sum().item()
        assert tr.score == pytest.approx(forced, abs=1e-4)
    one = TASK.predict(model, [text], decode=DecodeOptions(beam_size=4, alpha=0.6))[0]
    assert one.output == best.output and one.nbest == ()  # n_best 1: no list, the same best hypothesis


def test_one_beam_is_greedy_and_bad_sizes_are_refused():
    model = _model("bahdanau")
    (greedy,) = TASK.predict(model, ["2718"])
    (beam1,) = TASK.translate(model, [("2718", "")], DecodeOptions(beam_size=1))
    assert beam1.output == greedy.output and beam1.score == pytest.approx(greedy.score)
    with pytest.raises(DecodeOptionError, match="n_best"):
        TASK.predict(model, ["2718"], decode=DecodeOptions(beam_size=2, n_best=3))
