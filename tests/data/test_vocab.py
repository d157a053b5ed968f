"""Vocabulary: specials, <unk>, JSON round trip; batching pads and shifts targets."""

import pytest
import torch

from attnkit.data import Vocab, collate


def test_build_encode_decode_and_unk():
    vocab = Vocab.build([list("abca"), list("cab")], reserved=["<de_DE>"])
    assert vocab.itos[:5] == ["<pad>", "<unk>", "<s>", "</s>", "<de_DE>"]
    assert vocab.encode(["a", "z"]) == [vocab.stoi["a"], Vocab.unk_id]
    assert vocab.decode([vocab.stoi["a"], Vocab.eos_id, vocab.stoi["b"]]) == ["a"]
    assert vocab.unknown(list("azzq")) == ["z", "q"]


def test_min_freq_and_json_round_trip(tmp_path):
    vocab = Vocab.build([list("aab")], min_freq=2)
    assert "a" in vocab and "b" not in vocab
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").itos == vocab.itos
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not a valid vocabulary file"):
        Vocab.load(tmp_path / "bad.json")


def test_duplicate_tokens_are_rejected():
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "a"])
    with pytest.raises(ValueError, match="unique"):
        Vocab(["<unk>"])


def test_collate_pads_and_shifts():
    batch = collate([[5, 6, 7], [8]], [[9], [10, 11]])
    assert batch.src.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.src_lengths.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[2, 9, 0], [2, 10, 11]]
    assert batch.tgt_out.tolist() == [[9, 3, 0], [10, 11, 3]]
    assert batch.n_tokens == 5
    assert batch.src.dtype == torch.long
