"""``text-classification``: document classification of the user's own texts, for the HAN [Yang16]
and any other family that builds for a :class:`~attnkit.models.specs.DocumentSpec`.

Data. A tab-separated file, one document per line: ``LABEL<TAB>TEXT`` (no header; the text may
hold further tabs; blank lines are skipped). A document's sentences end after ``. ! ? ; :``
followed by white space (:func:`attnkit.data.bible_sections.split_sentences`), and its words are
the lower-cased runs of letters and digits, an apostrophe kept inside a word
(:func:`attnkit.data.bible_sections.tokenize`); the first ``data.max_sentences`` sentences of
at most ``data.max_words`` words are kept. ``attnkit predict`` reads an input line the same way.

Splits. ``data.train`` alone: a seeded split stratified by label (``data.dev_fraction`` and
``data.test_fraction`` of every label with at least 3 documents; :func:`attnkit.data.user_files.given_or_drawn`).
``data.train``, ``data.dev`` and ``data.test``: the three files as given. The classes are the
labels of the training documents, sorted; a dev or test label not among them is an error.

Run folder. The documents as read (``data/{split}.jsonl``, the Bible-sections format: file name,
line, label, sentences of words), ``vocab.json`` (words of at least ``data.min_freq`` training
occurrences) and ``dataset.json`` (config, classes, the sha256 of every file read, counts); the
run no longer needs the TSV files.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..data.bible_sections import Chapter, build_vocab, split_sentences, tokenize, write_chapters
from ..data.user_files import check_labels, check_split_files, given_or_drawn, label_classes, read_tsv
from ..data.vocab import Vocab
from ..errors import ConfigError
from ..io import atomic_write_text
from ..schema import check_positive
from .bible_sections import BibleSectionsTask
from .classification import check_split_fractions

__all__ = ["UserTextConfig", "UserTextTask"]


@dataclass(frozen=True)
class UserTextConfig:
    """``data.task: text-classification``.

    Attributes:
        train: the TSV of ``LABEL<TAB>TEXT`` lines (paths are relative to the working folder).
        dev, test: TSVs of the dev and test documents; both empty: split from `train`.
        seed: seed of the split.
        dev_fraction, test_fraction: shares of each label's documents in dev and test, in (0, 1),
            when the split is drawn.
        min_freq: training occurrences a word needs for an id (others read as ``<unk>``).
        max_sentences: sentences kept per document (the first ones).
        max_words: words kept per sentence (the first ones).
    """

    task: str = "text-classification"
    train: str = ""
    dev: str = ""
    test: str = ""
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    min_freq: int = 1
    max_sentences: int = 64
    max_words: int = 50

    def check(self) -> None:
        if not self.train:
            raise ConfigError("data.train: give the TSV of LABEL<TAB>TEXT lines, one document per line")
        check_split_files(self)
        check_split_fractions(self)
        check_positive(self, "min_freq", "max_sentences", "max_words", section="data")

    @property
    def max_verses(self) -> int:
        """`max_sentences`, under the name :class:`BibleSectionsTask` reads."""
        return self.max_sentences


def _documents(path: str, max_sentences: int, max_words: int) -> list[tuple[str, Chapter]]:
    """(label, document) per line of `path` (a document's label field is 0 until the classes are
    known)."""
    rows = read_tsv(path, ["label", "text"], last_takes_rest=True)
    docs = []
    for row in rows:
        label, text = row.fields
        sentences = [tuple(tokenize(s))[:max_words] for s in split_sentences(text)]
        kept = tuple(s for s in sentences if s)[:max_sentences]
        if not kept:
            raise ConfigError(f"{path}:{row.line}: the text has no words; give LABEL<TAB>TEXT")
        docs.append((label, Chapter(Path(path).name, row.line, 0, kept)))
    return docs


def _class_indices(docs: list[tuple[str, Chapter]], train_file: str) -> list[int]:
    """Each document's class index among the sorted labels of `docs` (the training file's)."""
    index = {c: i for i, c in enumerate(label_classes([label for label, _ in docs], train_file))}
    return [index[label] for label, _ in docs]


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class UserTextTask(BibleSectionsTask):
    """Classification of the user's documents (:class:`UserTextConfig`); family ``han`` by
    default, any family building for a ``DocumentSpec``. Loss, metrics (accuracy, macro-F1,
    per-class accuracy, confusion matrix) and predictions (kind ``document``: the HAN's word and
    sentence weights) are :class:`~attnkit.tasks.bible_sections.BibleSectionsTask`'s."""

    class_names: tuple[str, ...] = ()

    name = "text-classification"
    config_class = UserTextConfig  # type: ignore[assignment]

    @property
    def classes(self) -> list[str]:
        return list(self.class_names)

    @classmethod
    def build(  # type: ignore[override]
        cls, cfg: UserTextConfig, run_dir: str | Path
    ) -> tuple["UserTextTask", dict[str, list[Chapter]]]:
        """Read the TSVs, split them if needed, build the vocabulary; write the run's copy.

        Raises:
            attnkit.errors.ConfigError: one line naming the file and line of a malformed line, a
                text without words, or a dev/test label that no training document has.
        """
        read = given_or_drawn(
            cfg,
            lambda path: _documents(path, cfg.max_sentences, cfg.max_words),
            lambda docs: _class_indices(docs, cfg.train),
        )
        # the classes of the training file: a drawn split keeps every label in train
        classes = label_classes([label for label, _ in read["train"]], cfg.train)
        index = {c: i for i, c in enumerate(classes)}
        for split in ("dev", "test") if cfg.dev else ():
            check_labels(classes, [(getattr(cfg, split), d.chapter, y) for y, d in read[split]], cfg.train)
        labelled = {s: [Chapter(d.book, d.chapter, index[y], d.verses) for y, d in docs] for s, docs in read.items()}
        vocab = build_vocab(labelled["train"], min_freq=cfg.min_freq)
        run_dir = Path(run_dir)
        vocab.save(run_dir / "vocab.json")
        for split, docs in labelled.items():
            write_chapters(docs, run_dir / "data" / f"{split}.jsonl")
        info = {
            "config": asdict(cfg),
            "classes": classes,
            "sources_sha256": {path: _sha256(path) for path in (cfg.train, cfg.dev, cfg.test) if path},
            "counts": {**{f"{s}_documents": len(d) for s, d in labelled.items()}, "vocab": len(vocab)},
        }
        atomic_write_text(run_dir / "dataset.json", json.dumps(info, indent=1, ensure_ascii=False))
        return cls(vocab, cfg, tuple(classes)), labelled

    @classmethod
    def load(cls, cfg: Any, run_dir: str | Path) -> "UserTextTask":
        run_dir = Path(run_dir)
        info = json.loads((run_dir / "dataset.json").read_text(encoding="utf-8"))
        return cls(Vocab.load(run_dir / "vocab.json"), cfg, tuple(info["classes"]))
