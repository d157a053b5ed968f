"""Bible sections data (attnkit.data.bible_sections): section mapping, tokeniser, caps, stratified split, vocabulary,
batch tensors, chapter files.

Runs on a small fake module (:func:`fake_read`), never on installed SWORD modules.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import torch

from attnkit.data.bible_sections import (
    BOOK_SECTION,
    SECTIONS,
    Chapter,
    build_dataset,
    chapters_from_verses,
    encode_batch,
    read_chapters,
    split_chapters,
    tokenize,
    write_chapters,
)
from attnkit.data.sword import ModuleInfo, Verse
from attnkit.models.han import HierarchicalAttentionNetwork
from attnkit.tasks.bible_sections import SectionsConfig

# The 66 books of the Protestant canon as OSIS ids, in canonical order, written out independently.
PROTOCANON = """Gen Exod Lev Num Deut Josh Judg Ruth 1Sam 2Sam 1Kgs 2Kgs 1Chr 2Chr Ezra Neh Esth Job Ps Prov
Eccl Song Isa Jer Lam Ezek Dan Hos Joel Amos Obad Jonah Mic Nah Hab Zeph Hag Zech Mal Matt Mark Luke John Acts
Rom 1Cor 2Cor Gal Eph Phil Col 1Thess 2Thess 1Tim 2Tim Titus Phlm Heb Jas 1Pet 2Pet 1John 2John 3John Jude
Rev""".split()
DEUTEROCANON = ["Tob", "Sir", "1Macc"]


def fake_verses(chapters_per_book: int = 2, seed: int = 0) -> list[Verse]:
    """A tiny Bible: every protocanonical book (plus three deuterocanonical ones) with
    `chapters_per_book` chapters of 3-5 verses; one verse per chapter names its section
    (``keyword<label>``), the other words are filler; one empty verse slot per book."""
    rng = random.Random(seed)
    filler = [f"word{i}" for i in range(40)]
    verses = []
    for book in PROTOCANON[:39] + DEUTEROCANON + PROTOCANON[39:]:
        label = BOOK_SECTION.get(book, 0)
        for ch in range(1, chapters_per_book + 1):
            n = rng.randint(3, 5)
            key = rng.randrange(n)
            for v in range(1, n + 1):
                words = rng.choices(filler, k=rng.randint(3, 8))
                if v == key + 1:
                    words.insert(rng.randrange(len(words)), f"Keyword{label}")
                verses.append(Verse(book, ch, v, " ".join(words).capitalize() + "."))
        verses.append(Verse(book, chapters_per_book, 99, ""))
    return verses


def fake_read(name: str):
    """Stands in for :func:`attnkit.data.sword.read_module`."""
    return ModuleInfo(name, "1.0", "2024-01-01", "NRSVA", "en", "/fake"), fake_verses()


def test_sections_cover_exactly_the_protocanon_once():
    books = [b for s in SECTIONS for b in s.books]
    assert books == PROTOCANON  # all 66, canonical order, no duplicates
    assert len(set(books)) == len(books) == 66
    assert len(SECTIONS) == 8 and len({s.name for s in SECTIONS}) == 8
    assert all(BOOK_SECTION[b] == i for i, s in enumerate(SECTIONS) for b in s.books)
    assert not set(DEUTEROCANON) & set(BOOK_SECTION)


def test_tokenize_lowercases_words_keeps_inner_apostrophes_drops_punctuation():
    assert tokenize("“Don't be afraid,” said Yahweh’s angel; 3 times!") == [
        "don't",
        "be",
        "afraid",
        "said",
        "yahweh’s",
        "angel",
        "3",
        "times",
    ]
    assert tokenize("EN el principio creó Dios") == ["en", "el", "principio", "creó", "dios"]
    assert tokenize(" -- ¶ ") == []


def test_chapters_leave_out_deuterocanon_drop_empty_verses_and_count():
    chapters, counts = chapters_from_verses(fake_verses(), max_verses=64, max_words=50)
    assert len(chapters) == 66 * 2 and {c.book for c in chapters} == set(PROTOCANON)
    assert counts["left_out_books"] == 3 and counts["left_out_chapters"] == 6
    assert counts["empty_verses"] == 66  # one empty slot per protocanonical book
    assert counts["cut_verses"] == counts["cut_words"] == 0
    assert all(c.label == BOOK_SECTION[c.book] and all(c.verses) for c in chapters)
    assert counts["verses"] == sum(len(c.verses) for c in chapters)


def test_caps_cut_verses_and_words_and_count_them():
    verses = [Verse("Ps", 1, v, " ".join(["a"] * v)) for v in range(1, 8)]  # 7 verses of 1..7 words
    (chapter,), counts = chapters_from_verses(verses, max_verses=5, max_words=3)
    assert [len(v) for v in chapter.verses] == [1, 2, 3, 3, 3]  # first 5 verses, first 3 words each
    assert counts["cut_verses"] == 2 and counts["capped_chapters"] == 1
    assert counts["cut_words"] == (4 - 3) + (5 - 3) + (6 - 3) + (7 - 3) and counts["capped_verses"] == 4


def test_split_is_stratified_disjoint_and_deterministic():
    chapters, _ = chapters_from_verses(fake_verses(chapters_per_book=5), max_verses=64, max_words=50)
    splits = split_chapters(chapters, seed=7, dev_fraction=0.1, test_fraction=0.1)
    refs = {name: [c.ref for c in part] for name, part in splits.items()}
    assert sorted(sum(refs.values(), [])) == sorted(c.ref for c in chapters)  # a partition
    assert sum(len(r) for r in refs.values()) == len({r for part in refs.values() for r in part})
    totals = Counter(c.label for c in chapters)
    for name, share in (("dev", 0.1), ("test", 0.1)):
        per = Counter(c.label for c in splits[name])
        assert all(per[label] == max(round(n * share), 1) for label, n in totals.items())  # every section
    assert split_chapters(chapters, seed=7) == splits
    assert split_chapters(chapters, seed=8)["test"] != splits["test"]
    order = {c.ref: i for i, c in enumerate(chapters)}
    assert all([order[c.ref] for c in part] == sorted(order[c.ref] for c in part) for part in splits.values())


def test_build_dataset_vocab_comes_from_train_only(tmp_path):
    ds = build_dataset(SectionsConfig(module="fakeWEB", min_freq=1), read=fake_read)
    train_words = {w for c in ds.splits["train"] for v in c.verses for w in v}
    assert set(ds.vocab.itos[4:]) == train_words and ds.vocab.itos[:2] == ["<pad>", "<unk>"]
    assert ds.counts["chapters"] == 132 and ds.counts["vocab"] == len(ds.vocab)
    assert sum(ds.per_section("test")) == len(ds.splits["test"])
    ds.save(tmp_path)
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["splits"]["test"] == [c.ref for c in ds.splits["test"]] and (tmp_path / "vocab.json").is_file()
    with pytest.raises(ValueError, match="dev_fraction"):
        build_dataset(SectionsConfig(dev_fraction=0.6, test_fraction=0.5), read=fake_read)


def test_encode_batch_pads_to_the_longest_chapter_and_verse():
    ds = build_dataset(SectionsConfig(module="fakeWEB"), read=fake_read)
    short = Chapter("Ps", 1, 2, (("keyword2", "zzz-never-seen"),))
    docs = [ds.splits["train"][0], short, ds.splits["train"][1]]
    batch = encode_batch(docs, ds.vocab)
    s = max(len(c.verses) for c in docs)
    w = max(len(v) for c in docs for v in c.verses)
    assert batch.tokens.shape == (3, s, w) and batch.sentence_lengths.shape == (3, s)
    assert batch.n_sentences.tolist() == [len(c.verses) for c in docs]
    assert batch.labels.tolist() == [c.label for c in docs]
    for b, chapter in enumerate(docs):
        for i in range(s):
            n = len(chapter.verses[i]) if i < len(chapter.verses) else 0
            assert batch.sentence_lengths[b, i] == n
            assert torch.all(batch.tokens[b, i, n:] == 0)  # <pad> after the words and the verses
            if n:
                assert batch.tokens[b, i, :n].tolist() == ds.vocab.encode(chapter.verses[i])
    assert batch.tokens[1, 0, 1] == ds.vocab.unk_id
    model = HierarchicalAttentionNetwork(len(ds.vocab), len(SECTIONS), emb_dim=8, hidden_dim=4, attn_dim=4)
    out = model(batch.tokens, batch.sentence_lengths, batch.n_sentences)  # the shapes the HAN takes
    assert out.logits.shape == (3, 8) and out.word_weights.shape == (3, s, w)
    with pytest.raises(ValueError, match=">= 1 verse"):
        encode_batch([Chapter("Ps", 1, 2, ())], ds.vocab)


def test_chapters_written_and_read_back_are_equal_and_the_task_saves_and_loads_them(tmp_path):
    from attnkit.tasks.bible_sections import BibleSectionsTask

    ds = build_dataset(SectionsConfig(module="fakeWEB"), read=fake_read)
    write_chapters(ds.splits["dev"], tmp_path / "dev.jsonl")
    assert read_chapters(tmp_path / "dev.jsonl") == ds.splits["dev"]
    unicode = [Chapter("Ps", 3, 2, (("créó", "dios’s"), ("a",)))]
    write_chapters(unicode, tmp_path / "u.jsonl")
    assert read_chapters(tmp_path / "u.jsonl") == unicode
    task, splits = BibleSectionsTask.build(SectionsConfig(module="fakeWEB"), tmp_path / "run", read=fake_read)
    for split in ("train", "dev", "test"):
        assert BibleSectionsTask.load_split(tmp_path / "run", split) == splits[split]
    assert BibleSectionsTask.load(SectionsConfig(module="fakeWEB"), tmp_path / "run").vocab.itos == task.vocab.itos


def test_book_sections_are_read_only():
    with pytest.raises(TypeError):
        BOOK_SECTION["Tob"] = 0  # type: ignore[index]
