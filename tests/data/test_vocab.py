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


def test_other_specials_are_kept_in_the_file(tmp_path):
    from attnkit.data.vocab import TAGGING_SPECIALS

    vocab = Vocab.build([["b", "a", "b"]], specials=TAGGING_SPECIALS)
    assert vocab.itos == ["<pad>", "<unk>", "<mask>", "b", "a"] and vocab.encode(["a", "zz"]) == [4, 1]
    assert vocab.decode([3, 0, 4, 3]) == ["b", "a", "b"]  # id 3 is a word here, not </s>
    vocab.save(tmp_path / "v.json")
    again = Vocab.load(tmp_path / "v.json")
    assert again.itos == vocab.itos and again.specials == TAGGING_SPECIALS
    Vocab(["x"]).save(tmp_path / "plain.json")
    assert "specials" not in (tmp_path / "plain.json").read_text()  # the files of existing runs are unchanged
    with pytest.raises(ValueError, match="must start with <pad> <unk>"):
        Vocab(["x"], specials=("<unk>", "<pad>"))
