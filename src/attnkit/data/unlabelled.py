"""Unlabelled text for masked-language-model pretraining, with the held-out text of a downstream
task left out.

Two sources, both installed by packages:

- ``sblgnt``: the Greek New Testament of the ``bible-alignments`` wheel (:mod:`attnkit.data.sblgnt`),
  one unit per verse, words as the table writes them. The verses of the dev and test splits of the
  ``greek-tagging`` task (its verse split or book split, made by the same functions from the same
  keys and seed) are left out, so no tagging test text is seen in pretraining.
- ``sword``: a SWORD Bible (:mod:`attnkit.data.sword`, e.g. ``engWEB2015eb``, ``spaRV1909eb``), one
  unit per verse, lower-cased word tokens of :func:`attnkit.data.bible_sections.tokenize` (the
  Bible-sections task's). The dev and test chapters of the ``bible-sections`` split (made by
  :func:`attnkit.data.bible_sections.build_dataset` from the same keys and seed) are left out;
  books outside the sections (the deuterocanon) are kept.

:func:`sequences` then turns units into training sequences of at most ``max_len`` words: one per
unit (cut into pieces when longer), or, with ``pack``, consecutive units of one chapter packed
together up to ``max_len`` words, as BERT packs sentences into its 512-token inputs [Devlin19]
Sec. 3.1 / Appendix A.2.

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from . import bible_sections, sblgnt, sword

__all__ = ["Unit", "Held", "sblgnt_units", "sword_units", "sequences"]


@dataclass(frozen=True)
class Unit:
    """A verse of unlabelled text.

    Attributes:
        ref: e.g. ``"John 1:1"``.
        chapter: ``"John 1"``: units of one chapter may be packed together.
        words: its word tokens.
    """

    ref: str
    chapter: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Held:
    """What was left out: the downstream split's dev and test references (verses or chapters)."""

    dev: frozenset[str]
    test: frozenset[str]


def _chapter(ref: str) -> str:
    return ref.rsplit(":", 1)[0]


def sblgnt_units(
    *,
    split: str,
    seed: int,
    dev_fraction: float,
    test_fraction: float,
    dev_books: Sequence[str],
    test_books: Sequence[str],
    read: Callable[[], list[sblgnt.TaggedVerse]] | None = None,
) -> tuple[list[Unit], Held]:
    """The Greek NT's verses outside the dev and test splits of the tagging split these keys make.

    Args:
        split: ``"verse"`` (:func:`attnkit.data.sblgnt.verse_split`, seeded, with the fractions)
            or ``"book"`` (:func:`attnkit.data.sblgnt.book_split`, with the books).
        read: the verses (default :func:`attnkit.data.sblgnt.read_sblgnt`; tests pass a table).

    Raises:
        attnkit.errors.DataError: when the wheel is missing or its table unreadable.
        ValueError: for a split that cannot be made.
    """
    verses = (read or sblgnt.read_sblgnt)()
    if split == "verse":
        parts = sblgnt.verse_split(verses, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction)
    else:
        parts = sblgnt.book_split(verses, dev_books=dev_books, test_books=test_books)
    held = Held(frozenset(v.ref for v in parts["dev"]), frozenset(v.ref for v in parts["test"]))
    return [Unit(v.ref, _chapter(v.ref), tuple(v.words)) for v in parts["train"]], held


def sword_units(recipe: bible_sections.SectionsRecipe, *, read=None) -> tuple[list[Unit], Held]:
    """The verses of a SWORD module outside the dev and test chapters of the Bible-sections split
    that `recipe` (its ``module``, ``seed``, fractions and caps) makes.

    Args:
        recipe: the Bible-sections keys (:class:`attnkit.data.bible_sections.SectionsRecipe`).
        read: module reader (default :func:`attnkit.data.sword.read_module`).

    Raises:
        attnkit.data.sword.SwordError: when the module is missing or unreadable.
        ValueError: for a module without protocanonical chapters.
    """
    read = read or sword.read_module
    dataset = bible_sections.build_dataset(recipe, read=read)  # the very split the task makes
    held = Held(frozenset(c.ref for c in dataset.splits["dev"]), frozenset(c.ref for c in dataset.splits["test"]))
    _, verses = read(recipe.module)
    units = []
    for verse in verses:
        chapter = f"{verse.book} {verse.chapter}"
        words = tuple(bible_sections.tokenize(verse.text))
        if words and chapter not in held.dev and chapter not in held.test:
            units.append(Unit(verse.ref, chapter, words))
    return units, held


def sequences(units: Sequence[Unit], *, max_len: int, pack: bool) -> list[tuple[str, tuple[str, ...]]]:
    """Training sequences of at most `max_len` words, as (first unit's ref, words).

    Without `pack`, one sequence per unit (a longer unit is cut into consecutive pieces); with it,
    consecutive units of the same chapter are joined while they fit in `max_len` words.

    Raises:
        ValueError: if `max_len` < 1.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    out: list[tuple[str, tuple[str, ...]]] = []
    ref, chapter = "", ""
    words: tuple[str, ...] = ()  # the sequence being packed
    for unit in units:
        pieces = [unit.words[i : i + max_len] for i in range(0, len(unit.words), max_len)]
        for piece in pieces:
            if pack and words and unit.chapter == chapter and len(words) + len(piece) <= max_len:
                words = words + piece
                continue
            if words:
                out.append((ref, words))
            ref, chapter, words = unit.ref, unit.chapter, piece
    if words:
        out.append((ref, words))
    return out
