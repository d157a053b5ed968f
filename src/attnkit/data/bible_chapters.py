"""Whole Bible chapters as running text, with the labels and the split of the Bible sections data
set (:mod:`attnkit.data.bible_sections`): the same chapters (those of the 66 protocanonical
books with at least one word), the same section of the canon as the label, the same stratified
seeded split; but each chapter is one string, its verses joined by a space, with its case and
punctuation (no caps on verses or words; a subword model reads it, not the word tokenizer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..io import atomic_write_text
from . import sword
from .bible_sections import BOOK_SECTION, chapters_from_verses, split_chapters, tokenize

__all__ = ["ChapterText", "chapter_texts", "split_chapter_texts", "write_texts", "read_texts"]


@dataclass(frozen=True)
class ChapterText:
    """One chapter: its book (OSIS id), number, section label (index into SECTIONS) and text."""

    book: str
    chapter: int
    label: int
    text: str

    @property
    def ref(self) -> str:
        return f"{self.book} {self.chapter}"


def chapter_texts(verses: Sequence[sword.Verse]) -> list[ChapterText]:
    """The protocanon's chapters in the module's order, each the text of its verses with words
    (:func:`~attnkit.data.bible_sections.tokenize` finds one), stripped and joined by a space."""
    grouped: dict[tuple[str, int], list[str]] = {}
    for verse in verses:
        if verse.book in BOOK_SECTION and tokenize(verse.text):
            grouped.setdefault((verse.book, verse.chapter), []).append(verse.text.strip())
    return [ChapterText(book, n, BOOK_SECTION[book], " ".join(texts)) for (book, n), texts in grouped.items()]


def split_chapter_texts(
    verses: Sequence[sword.Verse], *, seed: int, dev_fraction: float, test_fraction: float
) -> dict[str, list[ChapterText]]:
    """The chapters split exactly as the Bible sections task splits them with the same seed and
    fractions (:func:`~attnkit.data.bible_sections.split_chapters` on its chapters, matched by
    reference).

    Raises:
        ValueError: if the verses hold no chapter of the 66 protocanonical books.
    """
    texts = {c.ref: c for c in chapter_texts(verses)}
    chapters, _ = chapters_from_verses(verses, max_verses=1, max_words=1)  # the caps change no split
    if not chapters:
        raise ValueError("no chapter of the 66 protocanonical books")
    splits = split_chapters(chapters, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction)
    return {name: [texts[c.ref] for c in members] for name, members in splits.items()}


def write_texts(chapters: Sequence[ChapterText], path: str | Path) -> None:
    """Write `chapters` as JSON lines (book, chapter, label, text), atomically."""
    atomic_write_text(
        Path(path),
        "".join(
            json.dumps({"book": c.book, "chapter": c.chapter, "label": c.label, "text": c.text}, ensure_ascii=False)
            + "\n"
            for c in chapters
        ),
    )


def read_texts(path: str | Path) -> list[ChapterText]:
    """The chapters :func:`write_texts` wrote to `path`, in order."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out.append(ChapterText(d["book"], int(d["chapter"]), int(d["label"]), d["text"]))
    return out
