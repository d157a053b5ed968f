"""The Bible sections data set: chapters of a SWORD Bible as documents of verses of words, each
labelled with the section of the canon its book belongs to.

Documents are chapters, sentences are verses, words are lower-cased word tokens
(:func:`tokenize`), and the label is one of the eight :data:`SECTIONS` of the 66-book Protestant
canon (the protocanon). The task plug-in that trains the Hierarchical Attention Network [Yang16]
on it is :mod:`attnkit.tasks.bible_sections`; its ``data:`` section
(:class:`attnkit.tasks.bible_sections.SectionsConfig`) is what :func:`build_dataset` takes.

Sections. The grouping is the one printed in the tables of contents of most English Bibles and
taught in introductions to the Bible: the Pentateuch (Law), the Historical Books, the Poetic and
Wisdom Books, the Major and the Minor Prophets, then in the New Testament the Gospels and Acts,
the Pauline Epistles (Romans to Philemon) and the General Epistles (Hebrews to Jude). Two
choices make the classes sizeable and well defined: Acts joins the Gospels (it is Luke's second
volume, and a narrative like them), and Revelation joins the General Epistles (a section of one
22-chapter book would be tiny, and Rev 2-3 are letters to churches). Lamentations sits with the
Major Prophets, where Protestant Bibles place it after Jeremiah; Hebrews, of unknown authorship,
is a General Epistle as in most modern groupings. Books outside the 66 (the deuterocanon of
modules with NRSVA versification, such as ``engWEB2015eb``) are left out and counted.

Caps. For batching, a chapter keeps at most ``max_verses`` verses (its first ones) and a verse
at most ``max_words`` words (its first ones); the defaults (64 and 50) cut 1-2 % of the verses
and words of the WEB. The caps are applied when the dataset is built, so every model trained on
it (and the bag-of-words baseline of the HAN study) sees the same text. Empty verse slots (text
moved to a neighbouring verse by the versification) are dropped.

Split. Chapters are split into train/dev/test per section (stratified) with a seeded shuffle,
so every section has the same share in every split. The split is by chapter, not by book: other
chapters of a test chapter's book are in the training data.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
    [OSIS] The OSIS 2.1.1 User's Manual, Appendix C.1: book identifiers. Bible Technologies Group, 2006.
"""

from __future__ import annotations

import json
import random
import re
import types
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from ..io import atomic_write_text
from ..schema import plain_dict
from . import sword
from .vocab import Vocab

__all__ = [
    "Section",
    "SECTIONS",
    "BOOK_SECTION",
    "Chapter",
    "SectionsRecipe",
    "BibleSections",
    "DocumentBatch",
    "Reader",
    "tokenize",
    "split_sentences",
    "chapters_from_verses",
    "split_chapters",
    "build_vocab",
    "encode_batch",
    "build_dataset",
    "write_chapters",
    "read_chapters",
]


class Section(NamedTuple):
    """A section of the canon: a short name and its books as OSIS ids [OSIS], in canonical order."""

    name: str
    books: tuple[str, ...]


SECTIONS: tuple[Section, ...] = (
    Section("Law", ("Gen", "Exod", "Lev", "Num", "Deut")),
    Section("History", ("Josh", "Judg", "Ruth", "1Sam", "2Sam", "1Kgs", "2Kgs", "1Chr", "2Chr", "Ezra", "Neh", "Esth")),
    Section("Wisdom", ("Job", "Ps", "Prov", "Eccl", "Song")),
    Section("Major Prophets", ("Isa", "Jer", "Lam", "Ezek", "Dan")),
    Section(
        "Minor Prophets", ("Hos", "Joel", "Amos", "Obad", "Jonah", "Mic", "Nah", "Hab", "Zeph", "Hag", "Zech", "Mal")
    ),
    Section("Gospels & Acts", ("Matt", "Mark", "Luke", "John", "Acts")),
    Section(
        "Pauline",
        ("Rom", "1Cor", "2Cor", "Gal", "Eph", "Phil", "Col", "1Thess", "2Thess", "1Tim", "2Tim", "Titus", "Phlm"),
    ),
    Section("General & Rev", ("Heb", "Jas", "1Pet", "2Pet", "1John", "2John", "3John", "Jude", "Rev")),
)
BOOK_SECTION: Mapping[str, int] = types.MappingProxyType({book: i for i, s in enumerate(SECTIONS) for book in s.books})

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of `text`: maximal runs of letters and digits (any script), with
    an apostrophe kept between two such runs ("Yahweh's", "don't"); punctuation is dropped.

    >>> tokenize("“Don't be afraid,” said Yahweh's angel; 3 times!")
    ["don't", 'be', 'afraid', 'said', "yahweh's", 'angel', '3', 'times']
    """
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Chapter:
    """One document: a chapter's tokenised verses (after the caps) and its section label."""

    book: str
    chapter: int
    label: int  # index into SECTIONS
    verses: tuple[tuple[str, ...], ...]  # S verses of words, S >= 1, each verse >= 1 word

    @property
    def ref(self) -> str:
        return f"{self.book} {self.chapter}"

    @property
    def n_words(self) -> int:
        return sum(len(v) for v in self.verses)


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def split_sentences(text: str) -> list[str]:
    """A line of running text cut into sentences after ``. ! ? ; :`` followed by white space."""
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


class SectionsRecipe(Protocol):
    """What :func:`build_dataset` reads from a config (the task's ``data:`` section,
    :class:`attnkit.tasks.bible_sections.SectionsConfig`, is one)."""

    @property
    def module(self) -> str:
        """SWORD module name."""

    @property
    def seed(self) -> int:
        """Seed of the split."""

    @property
    def dev_fraction(self) -> float:
        """Share of each section's chapters in dev, in (0, 1)."""

    @property
    def test_fraction(self) -> float:
        """Share of each section's chapters in test, in (0, 1)."""

    @property
    def min_freq(self) -> int:
        """Occurrences in the training split a word needs to get an id."""

    @property
    def max_verses(self) -> int:
        """Verses kept per chapter (the first ones)."""

    @property
    def max_words(self) -> int:
        """Words kept per verse (the first ones)."""

    def check(self) -> None:
        """Raises a ValueError naming the first field out of range."""


def chapters_from_verses(
    verses: Sequence[sword.Verse], *, max_verses: int, max_words: int
) -> tuple[list[Chapter], dict[str, int]]:
    """Group verses into tokenised, capped chapters of the protocanon, in the module's order.

    Args:
        verses: every verse slot of a module, in canonical order (:func:`attnkit.data.sword.read_module`).
        max_verses: verses kept per chapter.
        max_words: words kept per verse.

    Returns:
        (chapters, counts): counts has ``left_out_books`` and ``left_out_chapters`` (books outside
        :data:`SECTIONS`), ``empty_verses`` (slots without words, dropped), ``verses`` and
        ``words`` (kept), ``cut_verses`` (verses beyond the cap, in ``capped_chapters`` chapters)
        and ``cut_words`` (words beyond the cap, in ``capped_verses`` verses).
    """
    grouped: dict[tuple[str, int], list[list[str]]] = {}
    left_out: dict[str, set[int]] = {}
    counts = Counter(empty_verses=0, cut_verses=0, capped_chapters=0, cut_words=0, capped_verses=0)
    for verse in verses:
        if verse.book not in BOOK_SECTION:
            left_out.setdefault(verse.book, set()).add(verse.chapter)
            continue
        words = tokenize(verse.text)
        slot = grouped.setdefault((verse.book, verse.chapter), [])
        if not words:
            counts["empty_verses"] += 1
            continue
        if len(words) > max_words:
            counts["cut_words"] += len(words) - max_words
            counts["capped_verses"] += 1
        slot.append(words[:max_words])
    chapters = []
    for (book, number), verse_words in grouped.items():
        if not verse_words:
            continue  # a chapter without text is no document
        if len(verse_words) > max_verses:
            counts["cut_verses"] += len(verse_words) - max_verses
            counts["capped_chapters"] += 1
        kept = tuple(tuple(w) for w in verse_words[:max_verses])
        chapters.append(Chapter(book, number, BOOK_SECTION[book], kept))
    counts["left_out_books"] = len(left_out)
    counts["left_out_chapters"] = sum(len(c) for c in left_out.values())
    counts["verses"] = sum(len(c.verses) for c in chapters)
    counts["words"] = sum(c.n_words for c in chapters)
    return chapters, dict(counts)


def split_chapters(
    chapters: Sequence[Chapter], *, seed: int, dev_fraction: float = 0.1, test_fraction: float = 0.1
) -> dict[str, list[Chapter]]:
    """Stratified, seeded train/dev/test split.

    Each section's chapters are shuffled with ``random.Random(seed)``; the first
    ``round(n * test_fraction)`` go to test, the next ``round(n * dev_fraction)`` to dev, the rest
    to train (a section with at least 3 chapters gets at least one in each). Each split keeps the
    input order. The same chapters and seed always give the same split.

    Returns:
        {"train": [...], "dev": [...], "test": [...]}.
    """
    rng = random.Random(seed)
    where: dict[int, str] = {}
    for label in sorted({c.label for c in chapters}):
        members = [i for i, c in enumerate(chapters) if c.label == label]
        rng.shuffle(members)
        n = len(members)
        n_test = max(round(n * test_fraction), int(n >= 3))
        n_dev = max(round(n * dev_fraction), int(n >= 3))
        for k, i in enumerate(members):
            where[i] = "test" if k < n_test else "dev" if k < n_test + n_dev else "train"
    splits: dict[str, list[Chapter]] = {"train": [], "dev": [], "test": []}
    for i, chapter in enumerate(chapters):
        splits[where[i]].append(chapter)
    return splits


def build_vocab(chapters: Sequence[Chapter], *, min_freq: int) -> Vocab:
    """Vocabulary of the words occurring at least `min_freq` times in `chapters`, most frequent
    first; ``<pad>`` is id 0 and ``<unk>`` id 1 (:class:`attnkit.data.Vocab`; its ``<s>`` and
    ``</s>`` ids are unused here)."""
    return Vocab.build((verse for c in chapters for verse in c.verses), min_freq=min_freq)


class DocumentBatch(NamedTuple):
    """A padded batch of documents, as :class:`attnkit.models.HierarchicalAttentionNetwork` takes it."""

    tokens: Tensor  # (B, S, W) word ids, <pad> = 0 after the real words and sentences
    sentence_lengths: Tensor  # (B, S) words per verse; 0 for padding verses
    n_sentences: Tensor  # (B,) verses per chapter
    labels: Tensor  # (B,) section indices


def encode_batch(chapters: Sequence[Chapter], vocab: Vocab) -> DocumentBatch:
    """Pad `chapters` to (B, S, W), S and W the batch's longest chapter and verse.

    Args:
        chapters: B >= 1 chapters with at least one verse of at least one word each.
        vocab: word ids; unknown words become ``<unk>``.

    Raises:
        ValueError: if `chapters` is empty or holds a chapter or verse without words.
    """
    if not chapters or any(not c.verses or not all(c.verses) for c in chapters):
        raise ValueError(
            "encode_batch needs >= 1 chapter, each with >= 1 verse of >= 1 word; "
            "build chapters with chapters_from_verses"
        )
    s = max(len(c.verses) for c in chapters)
    w = max(len(v) for c in chapters for v in c.verses)
    tokens = torch.full((len(chapters), s, w), vocab.pad_id, dtype=torch.long)  # (B, S, W)
    lengths = torch.zeros(len(chapters), s, dtype=torch.long)  # (B, S)
    for b, chapter in enumerate(chapters):
        for i, verse in enumerate(chapter.verses):
            tokens[b, i, : len(verse)] = torch.tensor(vocab.encode(verse), dtype=torch.long)
            lengths[b, i] = len(verse)
    n_sentences = torch.tensor([len(c.verses) for c in chapters], dtype=torch.long)  # (B,)
    labels = torch.tensor([c.label for c in chapters], dtype=torch.long)  # (B,)
    return DocumentBatch(tokens, lengths, n_sentences, labels)


@dataclass
class BibleSections:
    """The built dataset: module, splits, training vocabulary and counts of what was kept and cut."""

    config: SectionsRecipe
    info: sword.ModuleInfo
    splits: dict[str, list[Chapter]]
    vocab: Vocab
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def section_names(self) -> list[str]:
        return [s.name for s in SECTIONS]

    def per_section(self, split: str) -> list[int]:
        """Chapters of each section in `split`, in :data:`SECTIONS` order."""
        counts = Counter(c.label for c in self.splits[split])
        return [counts[i] for i in range(len(SECTIONS))]

    def unk_rate(self, split: str) -> float:
        """Share of the words of `split` that are not in the vocabulary, in [0, 1]."""
        words = [w for c in self.splits[split] for v in c.verses for w in v]
        return sum(w not in self.vocab for w in words) / max(len(words), 1)

    def save(self, folder: str | Path) -> None:
        """Write ``vocab.json`` and ``dataset.json`` (config, module, counts, chapters per split)."""
        folder = Path(folder)
        self.vocab.save(folder / "vocab.json")
        meta = {
            "config": plain_dict(self.config),
            "module": asdict(self.info),
            "counts": self.counts,
            "sections": {s.name: list(s.books) for s in SECTIONS},
            "splits": {name: [c.ref for c in chapters] for name, chapters in self.splits.items()},
        }
        atomic_write_text(folder / "dataset.json", json.dumps(meta, indent=1, ensure_ascii=False))


#: A module reader, ``name -> (ModuleInfo, verses)``, like :func:`attnkit.data.sword.read_module`.
Reader = Callable[[str], "tuple[sword.ModuleInfo, list[sword.Verse]]"]


def build_dataset(config: SectionsRecipe, *, read: Reader | None = None) -> BibleSections:
    """Read the module, build capped chapters, split them and build the training vocabulary.

    Args:
        config: the dataset's settings (e.g. the task's ``SectionsConfig``).
        read: module reader, ``name -> (ModuleInfo, verses)``; default
            :func:`attnkit.data.sword.read_module` (tests pass a fake).

    Raises:
        attnkit.data.sword.SwordError: if the module is missing or unreadable.
        ValueError: if `config` is out of range or the module has no protocanon chapter.
    """
    config.check()
    info, verses = (read or sword.read_module)(config.module)
    chapters, counts = chapters_from_verses(verses, max_verses=config.max_verses, max_words=config.max_words)
    if not chapters:
        raise ValueError(f"module {config.module} has no chapter of the 66 protocanonical books")
    splits = split_chapters(
        chapters, seed=config.seed, dev_fraction=config.dev_fraction, test_fraction=config.test_fraction
    )
    vocab = build_vocab(splits["train"], min_freq=config.min_freq)
    counts |= {"chapters": len(chapters), **{f"{k}_chapters": len(v) for k, v in splits.items()}, "vocab": len(vocab)}
    return BibleSections(config, info, splits, vocab, counts)


def write_chapters(chapters: Sequence[Chapter], path: str | Path) -> None:
    """Write `chapters` as JSON lines (book, chapter, label, verses), atomically."""
    atomic_write_text(
        Path(path),
        "".join(
            json.dumps({"book": c.book, "chapter": c.chapter, "label": c.label, "verses": c.verses}, ensure_ascii=False)
            + "\n"
            for c in chapters
        ),
    )


def read_chapters(path: str | Path) -> list[Chapter]:
    """The chapters :func:`write_chapters` wrote to `path`, in order."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out.append(Chapter(d["book"], d["chapter"], d["label"], tuple(tuple(v) for v in d["verses"])))
    return out
