"""Stacked attention decoder: one layer equals the Luong decoder, teacher forcing equals stepping,
every layer attends and learns, beams can reorder its state."""

import pytest
import torch

from attnkit.decoding import DecodeOptions, beam_search, greedy_decode
from attnkit.models import Seq2Seq


def _model(layers, cell="gru", attention="luong-stacked"):
    torch.manual_seed(0)
    kw = {"dec_layers": layers} if attention == "luong-stacked" else {}
    return Seq2Seq(20, 15, attention=attention, cell=cell, emb_dim=8, hidden_dim=12, **kw).double().eval()


def _batch():
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 11, 0, 0]])
    return src, torch.tensor([5, 3]), torch.tensor([[4, 5, 6, 7], [8, 9, 10, 11]])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_one_layer_is_the_luong_general_decoder(cell):
    stacked, plain = _model(1, cell), _model(1, cell, attention="luong-general")
    rename = {
        "decoder.cells.0.": "decoder.cell.",
        "decoder.attentions.0.": "decoder.attention.",
        "decoder.bridge.": "decoder.bridge.proj.",
    }
    state = {}
    for key, value in stacked.state_dict().items():
        for old, new in rename.items():
            key = key.replace(old, new)
        state[key] = value
    plain.load_state_dict(state)
    src, lengths, tgt = _batch()
    torch.testing.assert_close(stacked(src, lengths, tgt).logits, plain(src, lengths, tgt).logits)
    torch.testing.assert_close(stacked(src, lengths, tgt).weights, plain(src, lengths, tgt).weights)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_stepping_equals_teacher_forcing_and_every_layer_learns(cell):
    model = _model(3, cell)
    src, lengths, tgt = _batch()
    out = model(src, lengths, tgt)
    memory = model.encode(src, lengths)
    assert memory.projected_keys.shape == (2, 3, 5, 12)
    state = model.init_state(memory)
    assert state.hidden.shape == (2, 3, 12)
    steps = []
    for t in range(4):
        lp, state, w = model.step(tgt[:, t], state, memory)
        steps.append(lp)
    torch.testing.assert_close(torch.stack(steps, 1), torch.log_softmax(out.logits, -1))
    assert torch.all(out.weights[1, :, 3:] == 0)
    model.train()(src, lengths, tgt).logits.logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        if "decoder." in name:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_beam_search_reorders_the_stacked_state():
    model = _model(2)
    src, lengths, _ = _batch()
    greedy = greedy_decode(model, src, lengths, 5)
    beam = beam_search(model, src, lengths, 5, DecodeOptions(beam_size=1, alpha=0.0))
    assert [b[0].tokens for b in beam] == [g.tokens for g in greedy]
    wide = beam_search(model, src, lengths, 5, DecodeOptions(beam_size=4, n_best=2))
    assert all(len(h) == 2 for h in wide)


def test_layers_need_the_stacked_decoder():
    with pytest.raises(ValueError, match="'bahdanau' does not take dec_layers.*takes it: luong-stacked"):
        Seq2Seq(10, 10, attention="bahdanau", dec_layers=2)
    with pytest.raises(ValueError, match="'luong-stacked' does not take input_feeding"):
        Seq2Seq(10, 10, attention="luong-stacked", dec_layers=2, input_feeding=False)
