"""Every registered model family declares what its model can do (``capabilities``), and the
declaration matches the model it builds: a family that says ``decodes`` builds a model with
``encode`` / ``init_state`` / ``step``; ``layer_maps`` one with ``attention_maps``; ``attention``
false only for models without attention; ``parts`` the named sub-modules that exist."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attnkit.capabilities import ModelCapabilities
from attnkit.models import FAMILIES, ModelFamily
from attnkit.models.bert_family import EncoderTextSpec
from attnkit.models.gpt2_family import CausalLMSpec
from attnkit.models.specs import (
    CaptionSpec,
    DocumentSpec,
    ImageSpec,
    ModelSpec,
    NodeSpec,
    Seq2SeqSpec,
    SpeechSeq2SeqSpec,
    SpeechSpec,
    TaggingSpec,
)

SEQ = Seq2SeqSpec(11, 12, 20)
SPEECH = SpeechSeq2SeqSpec(1, 12, 40, n_mels=8)

# (family, tiny config options, spec): every registered family at least once
CASES: list[tuple[str, dict, ModelSpec]] = [
    ("rnn", {"emb_dim": 4, "hidden_dim": 6, "attn_dim": 5}, SEQ),
    ("rnn", {"attention": "none", "emb_dim": 4, "hidden_dim": 6}, SEQ),
    ("rnn", {"attention": "luong-stacked", "dec_layers": 2, "emb_dim": 4, "hidden_dim": 6}, SEQ),
    ("rnn", {"attention": "location-aware", "emb_dim": 4, "hidden_dim": 6, "enc_layers": 1}, SPEECH),
    ("transformer", {"d_model": 8, "n_heads": 2, "d_ff": 16}, SEQ),
    ("transformer", {"d_model": 8, "n_heads": 2, "d_ff": 16}, SPEECH),
    ("han", {"emb_dim": 4, "hidden_dim": 3, "attn_dim": 5}, DocumentSpec(20, 3)),
    ("cnn", {"channels": (4, 8)}, ImageSpec(1, 16, 16, 3)),
    ("cnn", {"channels": (4, 8), "attention": "cbam", "stn": True}, ImageSpec(1, 16, 16, 3)),
    ("vit", {"d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 8}, ImageSpec(1, 16, 16, 3)),
    ("gat", {"hidden_dim": 2, "n_heads": 3}, NodeSpec(5, 2)),
    ("gcn", {"hidden_dim": 4}, NodeSpec(5, 2)),
    ("mlp", {"hidden_dim": 4}, NodeSpec(5, 2)),
    (
        "show-attend-tell",
        {"channels": (4,), "pools": (2,), "emb_dim": 4, "hidden_dim": 6, "attn_dim": 5},
        CaptionSpec(1, 8, 8, 10),
    ),
    (
        "show-attend-tell",
        {"attention": "none", "channels": (4,), "pools": (2,), "emb_dim": 4, "hidden_dim": 6},
        CaptionSpec(1, 8, 8, 10),
    ),
    ("speech-encoder", {"d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 8, "channels": 4}, SpeechSpec(8, 3)),
    (
        "bert",
        {"vocab_size": 20, "d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 8, "max_positions": 16},
        EncoderTextSpec(),
    ),
    (
        "gpt2",
        {"vocab_size": 20, "d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 8, "max_positions": 16},
        CausalLMSpec(),
    ),
    (
        "whisper",
        {
            "vocab_size": 12,
            "n_mels": 8,
            "d_model": 8,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "encoder_heads": 2,
            "decoder_heads": 2,
            "encoder_ffn": 8,
            "decoder_ffn": 8,
            "max_source_positions": 10,
            "max_target_positions": 12,
        },
        SPEECH,
    ),
    (
        "tagger-transformer",
        {"word_dim": 4, "char_dim": 4, "d_model": 8, "n_heads": 2, "d_ff": 8},
        TaggingSpec(9, 5, (("pos", 3),), 12),
    ),
    ("tagger-bilstm", {"word_dim": 4, "char_dim": 4, "hidden": 3}, TaggingSpec(9, 5, (("pos", 3),), 12)),
    ("tagger-cnn", {"word_dim": 4, "char_dim": 0, "channels": 6}, TaggingSpec(9, 5, (("pos", 3),), 12)),
    ("tagger-bilstm-attention", {"word_dim": 4, "hidden": 4, "n_heads": 2}, TaggingSpec(9, 5, (("pos", 3),), 12)),
    ("tagger-dictionary", {"max_suffix": 2}, TaggingSpec(9, 5, (("pos", 3), ("morph", 4)), 12)),
    ("encoder-classifier", {"word_dim": 4, "d_model": 8, "n_heads": 2, "d_ff": 8, "layers": 1}, DocumentSpec(20, 3)),
    ("rnn-classifier", {"emb_dim": 4, "hidden_dim": 3, "attn_dim": 5}, DocumentSpec(20, 3)),
    ("rnn-classifier", {"emb_dim": 4, "hidden_dim": 3, "pooling": "last"}, DocumentSpec(20, 3)),
]


def test_every_registered_family_is_covered_and_declares_capabilities():
    assert {name for name, _, _ in CASES} == set(FAMILIES.names())
    for entry in FAMILIES:
        assert isinstance(entry.obj, ModelFamily)  # the protocol includes capabilities
        assert isinstance(entry.obj.capabilities(entry.obj.config_class()), ModelCapabilities)


def _attends(name, model, spec) -> bool:
    """Whether the built model attends, found from the model itself."""
    if hasattr(model, "uses_attention"):
        return bool(model.uses_attention)
    if name == "cnn":  # the weights of its blocks' attention come back with every forward
        out = model(torch.zeros(1, spec.channels, spec.height, spec.width), need_weights=True)
        return bool(out[1] or out[2] or out[3] is not None)
    # gcn, mlp: their layers average neighbours / ignore the edges; the dictionary tagger counts
    return name not in ("gcn", "mlp", "tagger-dictionary")


def _ids(case):
    name, options, spec = case
    return f"{name}-{type(spec).__name__}-{options.get('attention', '')}{'-stn' if options.get('stn') else ''}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_the_declaration_matches_the_built_model(case):
    name, options, spec = case
    family = FAMILIES.get(name)
    cfg = family.config_class(**options)
    cfg.check()
    model = family.build(cfg, spec)
    caps = family.capabilities(cfg, spec)
    assert caps.decodes == all(callable(getattr(model, m, None)) for m in ("encode", "init_state", "step"))
    has_maps = callable(getattr(model, "attention_maps", None))
    if isinstance(spec, SpeechSeq2SeqSpec) and has_maps:  # inherited from the text Transformer, refused
        with pytest.raises(ValueError, match="not drawn"):
            model.attention_maps(None, None, None)
        has_maps = False
    assert caps.layer_maps == has_maps
    assert caps.attention == _attends(name, model, spec)
    assert caps.counts == callable(getattr(model, "fit", None))  # fitted by counting (attnkit.training.counting)
    assert ("stn" in caps.parts) == (getattr(model, "stn", None) is not None)
    assert caps.n_heads == getattr(cfg, "n_heads", 1)
    assert dataclasses.replace(caps) == family.capabilities(cfg, spec)  # a pure function of the config


def test_models_without_attention_say_so():
    for name, options in (
        ("rnn", {"attention": "none"}),
        ("gcn", {}),
        ("mlp", {}),
        ("show-attend-tell", {"attention": "none"}),
        ("cnn", {}),
        ("rnn-classifier", {"pooling": "last"}),
    ):
        family = FAMILIES.get(name)
        assert not family.capabilities(family.config_class(**options)).attention, name
    assert FAMILIES.get("rnn").capabilities(FAMILIES.get("rnn").config_class()).attention
