"""The encoder-classifier family: a document as one flat word sequence on the tagging encoder."""

from __future__ import annotations

import pytest
import torch

from attnkit.errors import ConfigError
from attnkit.models import FAMILIES
from attnkit.models.specs import DocumentSpec

SIZES = {"word_dim": 8, "d_model": 16, "n_heads": 2, "layers": 1, "d_ff": 16, "dropout": 0.0, "word_dropout": 0.0}


def _model(**kw):
    family = FAMILIES.get("encoder-classifier")
    cfg = family.config_class(**(SIZES | kw))
    cfg.check()
    torch.manual_seed(0)
    return family.build(cfg, DocumentSpec(40, 5)).eval()


def _documents():
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(3, 40, (2, 3, 4), generator=g)
    lengths = torch.tensor([[4, 2, 3], [3, 1, 0]])
    for b in range(2):
        for s in range(3):
            tokens[b, s, lengths[b, s] :] = 0
    return tokens, lengths, torch.tensor([3, 2])


def test_flatten_reads_the_words_in_order_and_cuts_at_max_words():
    tokens, lengths, _ = _documents()
    model = _model(max_words=6)
    words, mask, where = model.flatten(tokens, lengths)
    for b in range(2):  # the words written out by hand
        flat = [int(tokens[b, s, w]) for s in range(3) for w in range(int(lengths[b, s]))][:6]
        assert words[b, : len(flat)].tolist() == flat and int(mask[b].sum()) == len(flat)
        assert (words[b, len(flat) :] == 0).all()
        assert [int(tokens[b].reshape(-1)[i]) for i in where[b, : len(flat)]] == flat


@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_word_and_sentence_weights_sum_to_one_and_padding_changes_nothing(pooling):
    tokens, lengths, n = _documents()
    model = _model(pooling=pooling)
    out = model(tokens, lengths, n)
    torch.testing.assert_close(out.word_weights.sum((1, 2)), torch.ones(2))
    torch.testing.assert_close(out.sentence_weights, out.word_weights.sum(-1))
    assert (out.word_weights[tokens == 0] == 0).all()
    alone = model(tokens[1:, :2, :3], lengths[1:, :2], n[1:])  # the second document without its padding
    torch.testing.assert_close(alone.logits[0], out.logits[1], atol=1e-5, rtol=1e-5)
    if pooling == "mean":  # uniform over the 4 real words
        torch.testing.assert_close(out.word_weights[1][tokens[1] != 0], torch.full((4,), 0.25))


@pytest.mark.parametrize(
    "kw, message",
    [({"char_dim": 8}, "reads words only"), ({"pooling": "max"}, "model.pooling"), ({"max_words": 0}, "max_words")],
)
def test_bad_options_are_one_line(kw, message):
    with pytest.raises(ConfigError, match=message):
        FAMILIES.get("encoder-classifier").config_class(**(SIZES | kw)).check()


def test_a_saved_config_leaves_the_unused_encoder_options_out():
    from attnkit.config import load_config

    cfg = load_config(None, ["data.task=bible-sections", "model.arch=encoder-classifier", "model.pooling=mean"])
    assert not {"char_dim", "char_encoder", "char_emb", "char_kernel", "tie_word_head", "attn_dim"} & set(
        cfg.to_dict()["model"]
    )
