"""Subword models: exact round trip, attnkit ids, determinism, joint vs separate, save/load, errors."""

import hashlib
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from attnkit.data import SPECIALS, SubwordModel, Vocab, train_subwords


def _corpus(n: int = 300, seed: int = 0) -> tuple[list[str], list[str]]:
    """Spanish/English pairs with accents, ñ, ü, “curly quotes”, ¿? and numbers."""
    rng = random.Random(seed)
    es_subj = ["El niño", "La niña", "Mi abuela", "El señor Martínez", "Nuestra compañía", "Ella", "Él", "La canción"]
    en_subj = ["The boy", "The girl", "My grandmother", "Mr. Martínez", "Our company", "She", "He", "The song"]
    es_verb = ["comió", "compró", "vendió", "encontró", "cantó", "leyó", "escribió", "pidió"]
    en_verb = ["ate", "bought", "sold", "found", "sang", "read", "wrote", "asked for"]
    es_obj = ["una manzana", "el pingüino", "“la información”", "tres árboles", "café con leche", "la acción"]
    en_obj = ["an apple", "the penguin", "“the information”", "three trees", "coffee with milk", "the action"]
    es, en = [], []
    for _ in range(n):
        s, v, o, year = rng.randrange(8), rng.randrange(8), rng.randrange(6), rng.randint(1, 2024)
        es.append(f"{es_subj[s]} {es_verb[v]} {es_obj[o]} en {year}, ¿verdad?")
        en.append(f"{en_subj[s]} {en_verb[v]} {en_obj[o]} in {year}, right?")
    return es, en


ES, EN = _corpus()


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_round_trip_is_exact(model_type):
    model = SubwordModel.train(ES + EN, vocab_size=200, model_type=model_type)
    texts = ES[:20] + EN[:20] + ["  Él  leyó “café”,  ¿verdad?  ", "2024 3 árboles"]
    for text in texts:
        pieces = model.encode(text)
        assert model.decode(pieces) == text
        assert model.decode(model.encode_ids(text)) == text
    assert model.vocab_size == 200 and len(model.pieces()) == 200
    assert len(model.encode(ES[0])) < len(ES[0])  # real subwords, not just characters


def test_ids_are_attnkit_vocab_ids():
    model = SubwordModel.train(ES, vocab_size=150)
    assert tuple(model.pieces()[:4]) == SPECIALS
    vocab = model.to_vocab()
    assert isinstance(vocab, Vocab) and vocab.itos == model.pieces()
    for text in ES[:10] + ["ß ★ niño"]:
        ids = model.encode_ids(text)
        assert vocab.encode(model.encode(text)) == ids
        assert min(ids) >= Vocab.unk_id and Vocab.bos_id not in ids and Vocab.eos_id not in ids


def test_unknown_characters_become_unk():
    model = SubwordModel.train(ES, vocab_size=150)
    ids = model.encode_ids("ß")
    assert Vocab.unk_id in ids
    assert model.decode(model.encode("El ß")) == "El ß"  # pieces keep the surface form
    assert "⁇" in model.decode(model.encode_ids("El ß"))  # ids cannot
    # specials decode to nothing; ids from numpy or torch work
    body = model.encode_ids("El niño")
    assert model.decode([Vocab.bos_id, *body, Vocab.eos_id, Vocab.pad_id]) == "El niño"
    assert model.decode(np.array(body)) == model.decode(torch.tensor(body)) == "El niño"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.decode([model.vocab_size])
    with pytest.raises(TypeError, match="not a mix"):
        model.decode(["▁El", 5])
    with pytest.raises(TypeError, match="str"):
        model.encode(["El"])


def test_identity_keeps_text_and_nfkc_folds_it():
    text = "ﬁn “Ｅl” niño…"
    data = ES + [text] * 5
    kept = SubwordModel.train(data, vocab_size=150)
    assert kept.decode(kept.encode(text)) == text
    folded = SubwordModel.train(data, vocab_size=150, normalization="nmt_nfkc")
    assert folded.decode(folded.encode(text)) == "fin “El” niño..."
    assert folded.decode(folded.encode("a  b")) == "a b"


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_training_is_deterministic(model_type):
    first = SubwordModel.train(ES + EN, vocab_size=180, model_type=model_type, num_threads=2)
    second = SubwordModel.train(iter(ES + EN), vocab_size=180, model_type=model_type, num_threads=2)
    assert first.to_bytes() == second.to_bytes() and first == second
    # sampling a subset is seeded too
    sampled = [
        SubwordModel.train(ES + EN, vocab_size=150, max_sentences=200, seed=s, model_type=model_type) for s in (1, 1, 2)
    ]
    assert sampled[0] == sampled[1] != sampled[2]


def test_training_is_deterministic_across_processes():
    # SentencePiece's own sampler differs between processes; ours must not.
    script = (
        "import hashlib, sys; from attnkit.data import SubwordModel; "
        "lines = sys.stdin.read().splitlines(); "
        "print(hashlib.sha256(SubwordModel.train(lines, vocab_size=150, max_sentences=200, seed=3).to_bytes())"
        ".hexdigest())"
    )
    other = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(ES + EN), capture_output=True, text=True, check=True
    ).stdout.strip()
    here = SubwordModel.train(ES + EN, vocab_size=150, max_sentences=200, seed=3).to_bytes()
    assert other == hashlib.sha256(here).hexdigest()


def test_model_type_has_an_effect():
    assert SubwordModel.train(ES, vocab_size=150, model_type="bpe") != SubwordModel.train(
        ES, vocab_size=150, model_type="unigram"
    )


def test_joint_and_separate():
    src_model, tgt_model = train_subwords(ES, EN, joint=True, vocab_size=200)
    assert src_model is tgt_model
    assert src_model == SubwordModel.train(ES + EN, vocab_size=200)
    es_model, en_model = train_subwords(iter(ES), iter(EN), joint=False, vocab_size=150, model_type="unigram")
    assert es_model == SubwordModel.train(ES, vocab_size=150, model_type="unigram")
    assert en_model == SubwordModel.train(EN, vocab_size=150, model_type="unigram")
    assert "¿" in es_model.pieces() and "¿" not in en_model.pieces()  # each side has its own characters
    assert Vocab.unk_id in en_model.encode_ids("¿")
    assert "¿" in src_model.pieces() and "▁right" in src_model.pieces()


def test_save_load_gives_identical_encodings(tmp_path):
    model = SubwordModel.train(ES, vocab_size=150)
    model.save(tmp_path / "sub" / "es.model")
    loaded = SubwordModel.load(tmp_path / "sub" / "es.model")
    assert loaded == model and loaded.pieces() == model.pieces()
    for text in ES[:20]:
        assert loaded.encode(text) == model.encode(text) and loaded.encode_ids(text) == model.encode_ids(text)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["es.model"]  # no temp file left


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"junk.model: not a SentencePiece model"):
        SubwordModel.load(tmp_path / "junk.model")
    with pytest.raises(FileNotFoundError):
        SubwordModel.load(tmp_path / "missing.model")


def test_vocab_size_errors_say_what_fits():
    with pytest.raises(ValueError, match=r"vocab_size 5000 too large for this corpus; at most about \d+"):
        SubwordModel.train(ES, vocab_size=5000)
    with pytest.raises(ValueError, match=r"vocab_size 20 too small for this corpus; .* at least \d+"):
        SubwordModel.train(ES, vocab_size=20, model_type="unigram")
    with pytest.raises(ValueError, match="model_type"):
        SubwordModel.train(ES, model_type="char")
    with pytest.raises(ValueError, match="normalization"):
        SubwordModel.train(ES, normalization="nfc")
    with pytest.raises(ValueError, match="no non-empty sentence"):
        SubwordModel.train(["", " "], vocab_size=50)
    with pytest.raises(TypeError, match="must be str"):
        SubwordModel.train([b"bytes"], vocab_size=50)
