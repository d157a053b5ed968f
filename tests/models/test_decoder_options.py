"""Seq2Seq's decoder options: an option the chosen decoder would ignore is an error, one that it
takes changes the model, and leaving one out means the decoder's documented default."""

import re

import pytest
import torch

from attnkit.models import DECODERS, Seq2Seq
from attnkit.models.rnn import DECODER_OPTIONS, decoder_options

# Written out from each decoder's paper and docstring, not read from the code under test.
TAKES = {
    "none": set(),
    "bahdanau": {"attn_dim", "normaliser"},
    "bahdanau-coverage": {"attn_dim", "normaliser"},
    "luong-dot": {"input_feeding", "normaliser"},
    "luong-general": {"input_feeding", "normaliser"},
    "luong-concat": {"attn_dim", "input_feeding", "normaliser"},
    "luong-local-m": {"input_feeding", "local_window"},
    "luong-local-p": {"attn_dim", "input_feeding", "local_window"},
    "location-aware": {"attn_dim", "normaliser", "loc_filters", "loc_kernel"},
    "luong-stacked": {"dec_layers"},
}
DEFAULTS = {
    "attn_dim": 12,
    "input_feeding": True,
    "normaliser": "softmax",
    "local_window": 10,
    "dec_layers": 1,
    "loc_filters": 10,
    "loc_kernel": 31,
}
CHANGED = {
    "attn_dim": 6,
    "input_feeding": False,
    "normaliser": "sparsemax",
    "local_window": 1,
    "dec_layers": 2,
    "loc_filters": 3,
    "loc_kernel": 5,
}
TAKEN = [(a, o) for a, opts in TAKES.items() for o in sorted(opts)]
NOT_TAKEN = [(a, o) for a, opts in TAKES.items() for o in DECODER_OPTIONS if o not in opts]


def _model(attention, **options):
    torch.manual_seed(0)
    return (
        Seq2Seq(
            20, 15, attention=attention, emb_dim=8, hidden_dim=12, bidirectional=attention != "luong-dot", **options
        )
        .double()
        .eval()
    )


def _batch():
    src = torch.tensor([[4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0, 0]])
    return src, torch.tensor([7, 4]), torch.tensor([[4, 5, 6, 7, 8, 9], [9, 10, 11, 12, 13, 14]])


def test_the_table_covers_every_registered_decoder_and_matches_decoder_options():
    assert set(TAKES) == set(DECODERS.names())
    for attention, options in TAKES.items():
        assert decoder_options(attention) == options, attention


@pytest.mark.parametrize("attention, option", NOT_TAKEN)
def test_an_option_the_decoder_would_ignore_raises(attention, option):
    for value in {DEFAULTS[option], CHANGED[option]}:  # even the "harmless" default value
        with pytest.raises(ValueError) as info:
            _model(attention, **{option: value})
        message = str(info.value)
        assert "\n" not in message
        assert f"attention={attention!r} does not take {option}" in message
        assert f"{option}={value!r} would be ignored; remove it" in message
        users = [a for a, opts in TAKES.items() if option in opts]
        assert message.endswith(f"choose an attention that takes it: {', '.join(users)}")


@pytest.mark.parametrize("attention, option", TAKEN)
def test_an_option_the_decoder_takes_changes_its_output(attention, option):
    base, changed = _model(attention), _model(attention, **{option: CHANGED[option]})
    same_shapes = {k: v.shape for k, v in base.state_dict().items()} == {
        k: v.shape for k, v in changed.state_dict().items()
    }
    if option in ("normaliser", "local_window"):  # no parameters of their own: same weights
        assert same_shapes
        for (k, v), w in zip(base.state_dict().items(), changed.state_dict().values()):
            assert torch.equal(v, w), k
    else:  # attn_dim, input_feeding and dec_layers change the parameters' shapes
        assert not same_shapes
    src, lengths, tgt = _batch()
    a, b = base(src, lengths, tgt), changed(src, lengths, tgt)
    assert not torch.allclose(a.logits, b.logits)
    assert not torch.allclose(a.weights, b.weights)


@pytest.mark.parametrize("attention, option", TAKEN)
def test_leaving_an_option_out_means_its_documented_default(attention, option):
    implicit, explicit = _model(attention), _model(attention, **{option: DEFAULTS[option]})
    src, lengths, tgt = _batch()
    for x, y in zip(implicit(src, lengths, tgt), explicit(src, lengths, tgt)):
        assert (x is None and y is None) or torch.equal(x, y)


def test_attn_dim_sets_the_width_of_the_score():
    model = _model("bahdanau", attn_dim=6)
    assert model.decoder.attention.query_proj.weight.shape == (6, 12)  # W_a: (Da, Dd)
    assert model.decoder.attention.energy.shape == (6,)  # v_a
    local_p = _model("luong-local-p", attn_dim=6)
    assert local_p.decoder.attention.position_proj.weight.shape == (6, 12)  # W_p: (Dp, Dd)


def test_seq2seq_docstring_lists_every_registered_attention():
    doc = Seq2Seq.__doc__
    block = doc[doc.index("attention:") : doc.index("cell:")]
    listed = set(re.findall(r"[a-z][a-z-]*[a-z]", block.split(":", 2)[-1]))
    assert set(DECODERS.names()) <= listed, set(DECODERS.names()) - listed
