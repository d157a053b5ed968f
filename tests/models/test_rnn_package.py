"""The models/rnn package: checkpoint keys are those of the old single-module layout
(``models/rnn_seq2seq.py``), every decoder's declared options are exactly the keyword options of
its builder, and a step returns the typed :class:`~attnkit.models.StepOutput`."""

from __future__ import annotations

import inspect

import pytest
import torch

from attnkit.models import DECODERS, Seq2Seq, StepOutput
from attnkit.models.rnn import DECODER_OPTIONS, DecoderKind, DecoderStep

# state_dict() keys of Seq2Seq(7, 8, emb_dim=4, hidden_dim=6, ...) written by attnkit before the
# split into models/rnn/ (the same for gru and lstm cells): the encoder, the target embedding,
# then the decoder's keys below (after "decoder."), then the output layer.
ENCODER_KEYS = {
    True: [
        "encoder.embedding.weight",
        "encoder.rnn.weight_ih_l0",
        "encoder.rnn.weight_hh_l0",
        "encoder.rnn.bias_ih_l0",
        "encoder.rnn.bias_hh_l0",
        "encoder.rnn.weight_ih_l0_reverse",
        "encoder.rnn.weight_hh_l0_reverse",
        "encoder.rnn.bias_ih_l0_reverse",
        "encoder.rnn.bias_hh_l0_reverse",
    ],
    False: [
        "encoder.embedding.weight",
        "encoder.rnn.weight_ih_l0",
        "encoder.rnn.weight_hh_l0",
        "encoder.rnn.bias_ih_l0",
        "encoder.rnn.bias_hh_l0",
    ],
}
DECODER_KEYS = {
    "none": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "rnn.bias_ih_l0",
        "rnn.bias_hh_l0",
        "out.weight",
        "out.bias",
    ],
    "bahdanau": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.energy",
        "attention.query_proj.weight",
        "attention.key_proj.weight",
        "attention.key_proj.bias",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
        "out.weight",
        "out.bias",
    ],
    "bahdanau-coverage": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.energy",
        "attention.coverage_proj",
        "attention.query_proj.weight",
        "attention.key_proj.weight",
        "attention.key_proj.bias",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
        "out.weight",
        "out.bias",
    ],
    "luong-dot": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.combine.weight",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
    ],
    "luong-general": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.scorer.key_proj.weight",
        "attention.combine.weight",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
    ],
    "luong-concat": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.scorer.energy",
        "attention.scorer.query_proj.weight",
        "attention.scorer.key_proj.weight",
        "attention.combine.weight",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
    ],
    "luong-local-m": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.scorer.key_proj.weight",
        "attention.combine.weight",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
    ],
    "luong-local-p": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.position_energy",
        "attention.scorer.key_proj.weight",
        "attention.combine.weight",
        "attention.position_proj.weight",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
    ],
    "location-aware": [
        "bridge.proj.weight",
        "bridge.proj.bias",
        "attention.energy",
        "attention.filters",
        "attention.query_proj.weight",
        "attention.key_proj.weight",
        "attention.key_proj.bias",
        "attention.loc_proj.weight",
        "cell.rnn.weight_ih",
        "cell.rnn.weight_hh",
        "cell.rnn.bias_ih",
        "cell.rnn.bias_hh",
        "out.weight",
        "out.bias",
    ],
    "luong-stacked": [
        "bridge.weight",
        "bridge.bias",
        "cells.0.rnn.weight_ih",
        "cells.0.rnn.weight_hh",
        "cells.0.rnn.bias_ih",
        "cells.0.rnn.bias_hh",
        "cells.1.rnn.weight_ih",
        "cells.1.rnn.weight_hh",
        "cells.1.rnn.bias_ih",
        "cells.1.rnn.bias_hh",
        "attentions.0.scorer.key_proj.weight",
        "attentions.0.combine.weight",
        "attentions.1.scorer.key_proj.weight",
        "attentions.1.combine.weight",
    ],
}


def _old_keys(attention: str, bidirectional: bool) -> list[str]:
    return [
        *ENCODER_KEYS[bidirectional],
        "tgt_embedding.weight",
        *(f"decoder.{k}" for k in DECODER_KEYS[attention]),
        "generator.weight",
        "generator.bias",
    ]


def _model(attention: str, cell: str) -> Seq2Seq:
    kw = {"dec_layers": 2} if attention == "luong-stacked" else {}
    return Seq2Seq(
        7, 8, attention=attention, cell=cell, emb_dim=4, hidden_dim=6, bidirectional=attention != "luong-dot", **kw
    )


def test_the_table_covers_every_decoder():
    assert set(DECODER_KEYS) == set(DECODERS.names())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", sorted(DECODER_KEYS))
def test_checkpoint_keys_are_those_of_the_old_layout(attention, cell):
    model = _model(attention, cell)
    assert list(model.state_dict()) == _old_keys(attention, attention != "luong-dot")
    # a state dict under the old names loads strictly and gives the same outputs
    torch.manual_seed(1)
    old = {
        k: torch.randn_like(v)
        for k, v in zip(_old_keys(attention, attention != "luong-dot"), model.state_dict().values())
    }
    model.load_state_dict(old, strict=True)
    twin = _model(attention, cell)
    twin.load_state_dict(old, strict=True)
    src, lengths, tgt = torch.tensor([[3, 4, 5]]), torch.tensor([3]), torch.tensor([[1, 6]])
    torch.testing.assert_close(model(src, lengths, tgt).logits, twin(src, lengths, tgt).logits)


@pytest.mark.parametrize("attention", DECODERS.names())
def test_declared_options_are_the_keyword_options_of_the_builder(attention):
    kind = DECODERS.get(attention)
    assert isinstance(kind, DecoderKind)
    params = inspect.signature(kind.build).parameters.values()
    keyword = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name in DECODER_OPTIONS}
    assert set(kind.options) == keyword


def test_a_declaration_names_only_known_options():
    with pytest.raises(ValueError, match="not one of"):
        DecoderKind(lambda *a, **k: None, ("window_size",))


@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong-general", "luong-stacked", "location-aware"])
def test_a_step_returns_typed_outputs(attention):
    model = _model(attention, "gru").eval()
    memory = model.encode(torch.tensor([[3, 4, 5]]), torch.tensor([3]))
    state = model.init_state(memory)
    emb = model.tgt_embedding(torch.tensor([1]))
    dec = model.decoder.step(emb, state, memory)
    assert isinstance(dec, DecoderStep) and dec.output.shape == (1, 6)
    out = model.step(torch.tensor([1]), state, memory)
    assert isinstance(out, StepOutput)
    assert out.log_probs.shape == (1, 8) and out.state.position == 1
    torch.testing.assert_close(out.log_probs.exp().sum(-1), torch.ones(1))
    assert (out.weights is None) == (attention == "none")
    log_probs, new_state, weights = out  # still unpacks as the old triple
    assert new_state is out.state
