"""Bible sections: classify a chapter by the section of the canon its book belongs to.

A document-classification task for the Hierarchical Attention Network [Yang16]: documents are
chapters, sentences are verses, words are lower-cased word tokens (:func:`tokenize`), and the
label is one of the eight :data:`SECTIONS` of the 66-book Protestant canon (the protocanon).

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
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from torch import nn

from ..data import sword
from ..data.vocab import Vocab
from ..errors import ConfigError, InputError
from ..evaluation import classification_metrics
from ..io import atomic_write_text
from ..schema import check_positive
from ..models.families import DocumentSpec
from .base import LossContext, PrimaryMetric
from .classification import check_split_fractions, classification_report

__all__ = ["Section", "SECTIONS", "BOOK_SECTION", "Chapter", "SectionsConfig", "BibleSections",
           "DocumentBatch", "tokenize", "chapters_from_verses", "split_chapters", "build_vocab",
           "encode_batch", "build_dataset", "BibleSectionsTask", "DocumentPrediction", "split_sentences"]


class Section(NamedTuple):
    """A section of the canon: a short name and its books as OSIS ids [OSIS], in canonical order."""

    name: str
    books: tuple[str, ...]


SECTIONS: tuple[Section, ...] = (
    Section("Law", ("Gen", "Exod", "Lev", "Num", "Deut")),
    Section("History", ("Josh", "Judg", "Ruth", "1Sam", "2Sam", "1Kgs", "2Kgs", "1Chr", "2Chr", "Ezra",
                        "Neh", "Esth")),
    Section("Wisdom", ("Job", "Ps", "Prov", "Eccl", "Song")),
    Section("Major Prophets", ("Isa", "Jer", "Lam", "Ezek", "Dan")),
    Section("Minor Prophets", ("Hos", "Joel", "Amos", "Obad", "Jonah", "Mic", "Nah", "Hab", "Zeph", "Hag",
                               "Zech", "Mal")),
    Section("Gospels & Acts", ("Matt", "Mark", "Luke", "John", "Acts")),
    Section("Pauline", ("Rom", "1Cor", "2Cor", "Gal", "Eph", "Phil", "Col", "1Thess", "2Thess", "1Tim",
                        "2Tim", "Titus", "Phlm")),
    Section("General & Rev", ("Heb", "Jas", "1Pet", "2Pet", "1John", "2John", "3John", "Jude", "Rev")),
)
BOOK_SECTION: dict[str, int] = {book: i for i, s in enumerate(SECTIONS) for book in s.books}

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


@dataclass(frozen=True)
class SectionsConfig:
    """``data.task: bible-sections``: what the dataset is made of.

    Attributes:
        module: SWORD module name (see :data:`attnkit.data.sword.DEBIAN_PACKAGES`).
        seed: seed of the split.
        dev_fraction, test_fraction: shares of each section's chapters in dev and test, in (0, 1).
        min_freq: a word needs this many occurrences in the training split to get an id.
        max_verses: verses kept per chapter (the first ones).
        max_words: words kept per verse (the first ones).
    """

    task: str = "bible-sections"
    module: str = "engWEB2015eb"
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    min_freq: int = 2
    max_verses: int = 64
    max_words: int = 50

    def check(self) -> None:
        """Raises ConfigError (a ValueError) naming the first field out of range."""
        check_split_fractions(self)
        check_positive(self, "min_freq", "max_verses", "max_words", section="data")


def chapters_from_verses(verses: Sequence[sword.Verse], *, max_verses: int, max_words: int
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


def split_chapters(chapters: Sequence[Chapter], *, seed: int, dev_fraction: float = 0.1,
                   test_fraction: float = 0.1) -> dict[str, list[Chapter]]:
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
        raise ValueError("encode_batch needs >= 1 chapter, each with >= 1 verse of >= 1 word; "
                         "build chapters with chapters_from_verses")
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

    config: SectionsConfig
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
        meta = {"config": asdict(self.config), "module": asdict(self.info), "counts": self.counts,
                "sections": {s.name: list(s.books) for s in SECTIONS},
                "splits": {name: [c.ref for c in chapters] for name, chapters in self.splits.items()}}
        atomic_write_text(folder / "dataset.json", json.dumps(meta, indent=1, ensure_ascii=False))


Reader = Callable[[str], "tuple[sword.ModuleInfo, list[sword.Verse]]"]


def build_dataset(config: SectionsConfig = SectionsConfig(), *, read: Reader | None = None) -> BibleSections:
    """Read the module, build capped chapters, split them and build the training vocabulary.

    Args:
        config: the dataset's settings.
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
    splits = split_chapters(chapters, seed=config.seed, dev_fraction=config.dev_fraction,
                            test_fraction=config.test_fraction)
    vocab = build_vocab(splits["train"], min_freq=config.min_freq)
    counts |= {"chapters": len(chapters), **{f"{k}_chapters": len(v) for k, v in splits.items()},
               "vocab": len(vocab)}
    return BibleSections(config, info, splits, vocab, counts)


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def split_sentences(text: str) -> list[str]:
    """A line of running text cut into sentences after ``. ! ? ; :`` followed by white space."""
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


@dataclass
class DocumentPrediction:
    """The predicted section of one document, with the HAN's attention.

    Attributes:
        output: the predicted section's name (the line ``attnkit predict`` prints).
        probability: its probability, in [0, 1].
        probabilities: every class's, (C,).
        sentences: the document's sentences as the model saw them (lists of words).
        word_weights: (S, W) word weights per sentence, 0 on padding.
        sentence_weights: (S,) sentence weights.
    """

    output: str
    probability: float
    probabilities: list[float]
    sentences: list[list[str]]
    word_weights: Tensor
    sentence_weights: Tensor


def _padded_size(chapter: Chapter) -> int:
    return len(chapter.verses) * max(len(v) for v in chapter.verses)


@dataclass
class BibleSectionsTask:
    """Document classification of Bible chapters by section of the canon, as a task plug-in
    (:class:`attnkit.tasks.base.Task`); model family ``han`` [Yang16]. Items are
    :class:`Chapter` objects, batches :class:`DocumentBatch` es; the primary metric is test
    accuracy, and evaluation also gives macro-F1, per-class accuracy and the confusion matrix.
    """

    vocab: Vocab
    config: SectionsConfig

    name = "bible-sections"
    config_class = SectionsConfig
    default_family = "han"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "documents"
    spec_class = DocumentSpec

    @property
    def spec(self) -> DocumentSpec:
        return DocumentSpec(len(self.vocab), len(SECTIONS), self.vocab.pad_id)

    @property
    def classes(self) -> list[str]:
        return [s.name for s in SECTIONS]

    @classmethod
    def build(cls, cfg: SectionsConfig, run_dir: str | Path, *, read: Reader | None = None
              ) -> tuple["BibleSectionsTask", dict[str, list[Chapter]]]:
        """Read the SWORD module, build the capped chapters, the stratified split and the vocabulary;
        write ``vocab.json``, ``dataset.json`` and ``data/{split}.jsonl`` into `run_dir`.

        Raises:
            attnkit.data.sword.SwordError: if the module is not installed or unreadable.
            attnkit.errors.ConfigError: for a module without protocanonical chapters.
        """
        try:
            dataset = build_dataset(cfg, read=read)
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError(f"data.module: {err}") from None
        run_dir = Path(run_dir)
        dataset.save(run_dir)
        for split, chapters in dataset.splits.items():
            atomic_write_text(run_dir / "data" / f"{split}.jsonl", "".join(
                json.dumps({"book": c.book, "chapter": c.chapter, "label": c.label, "verses": c.verses},
                           ensure_ascii=False) + "\n" for c in chapters))
        return cls(dataset.vocab, cfg), dataset.splits

    @classmethod
    def load(cls, cfg: SectionsConfig, run_dir: str | Path) -> "BibleSectionsTask":
        return cls(Vocab.load(Path(run_dir) / "vocab.json"), cfg)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[Chapter]:
        lines = (Path(run_dir) / "data" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        out = []
        for line in lines:
            d = json.loads(line)
            out.append(Chapter(d["book"], d["chapter"], d["label"], tuple(tuple(v) for v in d["verses"])))
        return out

    # --- training ------------------------------------------------------------------------------
    @staticmethod
    def encode(examples: Sequence[Chapter]) -> list[Chapter]:
        return list(examples)

    @staticmethod
    def lengths(item: Chapter) -> tuple[int, int]:
        return _padded_size(item), 1

    @staticmethod
    def loss_weight(item: Chapter) -> int:
        return 1

    def collate(self, items: Sequence[Chapter]) -> DocumentBatch:
        return encode_batch(items, self.vocab)

    @staticmethod
    def loss(model: nn.Module, batch: DocumentBatch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy of the documents' labels (label smoothing from the train config)."""
        out = model(batch.tokens, batch.sentence_lengths, batch.n_sentences)
        return F.cross_entropy(out.logits.float(), batch.labels, reduction="sum",
                               label_smoothing=ctx.train.label_smoothing)

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def _probabilities(self, model: nn.Module, chapters: Sequence[Chapter], batch_size: int = 32):
        device = next(model.parameters()).device
        order = sorted(range(len(chapters)), key=lambda i: _padded_size(chapters[i]))
        probs: list[Any] = [None] * len(chapters)
        outs: list[Any] = [None] * len(chapters)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = encode_batch([chapters[i] for i in idx], self.vocab)
            out = model(batch.tokens.to(device), batch.sentence_lengths.to(device), batch.n_sentences.to(device))
            p = torch.softmax(out.logits.float(), dim=-1).cpu()
            for k, i in enumerate(idx):
                s, w = len(chapters[i].verses), max(len(v) for v in chapters[i].verses)
                probs[i] = p[k]
                outs[i] = (out.word_weights[k, :s, :w].cpu(), out.sentence_weights[k, :s].cpu())
        return probs, outs

    def evaluate(self, model: nn.Module, examples: Sequence[Chapter], *, decode: Any = None
                 ) -> tuple[dict[str, Any], list[DocumentPrediction]]:
        """Accuracy, macro-F1, per-class accuracy and the confusion matrix
        (:func:`attnkit.evaluation.classification_metrics`), and one prediction per chapter.

        Raises:
            ValueError: for no examples (`decode` is ignored: classification decodes nothing).
        """
        probs, outs = self._probabilities(model, examples)
        predicted = [int(p.argmax()) for p in probs]
        metrics = classification_metrics(predicted, [c.label for c in examples], len(SECTIONS))
        metrics["classes"] = self.classes
        return metrics, [self._prediction(c.verses, p, o) for c, p, o in zip(examples, probs, outs)]

    def _prediction(self, sentences, p: Tensor, weights) -> DocumentPrediction:
        k = int(p.argmax())
        return DocumentPrediction(self.classes[k], float(p[k]), p.tolist(), [list(s) for s in sentences], *weights)

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return classification_report(metrics, "documents", detailed=detailed)

    def predict(self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {},
                decode: Any = None) -> list[DocumentPrediction]:
        """The section of each input line, read as one document whose sentences end at ``. ! ? ; :``
        (:func:`split_sentences`, then :func:`tokenize`; the config's caps apply).

        Raises:
            attnkit.errors.InputError: for an option (there are none), or a line without words.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        docs = []
        for i, text in enumerate(inputs, 1):
            verses = [tuple(tokenize(s))[: self.config.max_words] for s in split_sentences(text)]
            verses = [v for v in verses if v][: self.config.max_verses]
            if not verses:
                raise InputError(f"input {i} has no words; give a passage of text, one document per line")
            docs.append(Chapter("input", i, 0, tuple(verses)))
        if not docs:
            raise InputError("no input lines")
        probs, outs = self._probabilities(model, docs)
        return [self._prediction(d.verses, p, o) for d, p, o in zip(docs, probs, outs)]
