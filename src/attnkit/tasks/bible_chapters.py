"""``bible-chapters``: a whole Bible chapter, read as one sequence of subwords, -> the section of the
canon its book belongs to; the Bible sections task [Yang16] without the sentence hierarchy, as a
long-input task for efficient attention.

Data. The chapters, labels and split of ``bible-sections`` with the same ``data.module``,
``data.seed`` and fractions (:mod:`attnkit.data.bible_chapters`), each chapter's verses joined into
one text with case and punctuation, cut into SentencePiece BPE subwords [Kudo18b] (the tokenizer of
the Bible translation tasks, :class:`~attnkit.data.subword.SubwordModel`) trained on the
training chapters only, ``data.vocab_size`` pieces (1,000 by default: the World English Bible's
chapters then run from 48 to about 4,200 subwords, median about 1,000); the first
``data.max_tokens`` subwords of a chapter are read.

Model. Any family of :class:`~attnkit.models.specs.DocumentSpec` reads a chapter as a document of
one sentence (``encoder-classifier`` with any ``model.attention_kernel``, its ``model.max_words``
reaching ``data.max_tokens``; ``han`` as the recurrent baseline). ``attnkit predict`` takes a
passage of text and shows the pooling weights on its subwords (kind ``document``, in lines of 24).

Run folder. ``subwords.model``, ``data/{split}.jsonl`` (book, chapter, label, text) and
``dataset.json`` (config, module, counts, subwords per chapter: min / median / max).

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
    [Kudo18b] T. Kudo, J. Richardson. SentencePiece: A simple and language independent subword
    tokenizer and detokenizer for Neural Text Processing. EMNLP 2018 (demo). arXiv:1808.06226.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import sword
from ..data.bible_chapters import ChapterText, read_texts, split_chapter_texts, write_texts
from ..data.bible_sections import SECTIONS, DocumentBatch, Reader, split_sentences
from ..data.subword import SubwordModel
from ..errors import ConfigError, InputError
from ..evaluation import classification_metrics
from ..io import atomic_write_text
from ..models.specs import DocumentSpec
from ..schema import check_positive
from .base import PrimaryMetric
from .bible_sections import DocumentPrediction, document_loss
from .classification import ClassLabel, check_split_fractions, classification_report
from .sequence_classification import accuracy_buckets, collate_sequences, forward_sequences, lined_prediction

__all__ = ["ChaptersConfig", "BibleChaptersTask", "LENGTH_BUCKET"]

LENGTH_BUCKET = 1000  # subwords per length bucket of the detailed report


@dataclass(frozen=True)
class ChaptersConfig:
    """``data.task: bible-chapters``.

    Attributes:
        module: SWORD module name (see :data:`attnkit.data.sword.DEBIAN_PACKAGES`).
        seed: seed of the split (the bible-sections split with the same seed and fractions).
        dev_fraction, test_fraction: shares of each section's chapters in dev and test, in (0, 1).
        vocab_size: SentencePiece BPE pieces, the 4 specials included.
        max_tokens: subwords read per chapter (the first ones).
    """

    task: str = "bible-chapters"
    module: str = "engWEB2015eb"
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    vocab_size: int = 1000
    max_tokens: int = 4096

    def check(self) -> None:
        """Raises ConfigError naming the first field out of range."""
        check_split_fractions(self)
        check_positive(self, "max_tokens", section="data")
        if self.vocab_size < 100:
            raise ConfigError(f"data.vocab_size must be >= 100 subword pieces, got {self.vocab_size}")


def _stats(values: Sequence[int]) -> dict[str, int]:
    ordered = sorted(values)
    return {"min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1]}


class BibleChaptersTask:
    """Whole chapters as subword sequences -> section of the canon, as a task plug-in
    (:class:`attnkit.tasks.base.Task`); items are (subword ids, label), batches
    :class:`~attnkit.data.bible_sections.DocumentBatch` es of one sentence per document."""

    name = "bible-chapters"
    config_class = ChaptersConfig
    default_family = "encoder-classifier"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "documents"
    spec_class = DocumentSpec

    def __init__(self, subwords: SubwordModel, config: ChaptersConfig) -> None:
        self.subwords, self.config = subwords, config

    @property
    def classes(self) -> list[str]:
        return [s.name for s in SECTIONS]

    @property
    def capabilities(self) -> TaskCapabilities:
        """A passage of text in, one of the sections out."""
        return TaskCapabilities(InputKind.TEXT, classes=tuple(self.classes))

    @property
    def spec(self) -> DocumentSpec:
        return DocumentSpec(self.subwords.vocab_size, len(self.classes), 0)

    @classmethod
    def build(
        cls, cfg: ChaptersConfig, run_dir: str | Path, *, read: Reader | None = None
    ) -> tuple["BibleChaptersTask", dict[str, list[ChapterText]]]:
        """Read the module, split its chapters, train the subword model on the training chapters;
        write ``subwords.model``, ``data/{split}.jsonl`` and ``dataset.json`` into `run_dir`.

        Raises:
            attnkit.data.sword.SwordError: if the module is not installed or unreadable.
            attnkit.errors.ConfigError: for a module without protocanonical chapters.
        """
        cfg.check()
        info, verses = (read or sword.read_module)(cfg.module)
        try:
            splits = split_chapter_texts(
                verses, seed=cfg.seed, dev_fraction=cfg.dev_fraction, test_fraction=cfg.test_fraction
            )
        except ValueError as err:
            raise ConfigError(f"data.module: {cfg.module}: {err}") from None
        sentences = [s for c in splits["train"] for s in split_sentences(c.text)]
        try:
            subwords = SubwordModel.train(sentences, vocab_size=cfg.vocab_size, model_type="bpe", seed=cfg.seed)
        except (RuntimeError, ValueError) as err:
            raise ConfigError(f"data.vocab_size={cfg.vocab_size}: {err}; lower it") from None
        run_dir = Path(run_dir)
        (run_dir / "data").mkdir(parents=True, exist_ok=True)
        subwords.save(run_dir / "subwords.model")
        for split, chapters in splits.items():
            write_texts(chapters, run_dir / "data" / f"{split}.jsonl")
        task = cls(subwords, cfg)
        lengths = [len(subwords.encode_ids(c.text)) for split in splits.values() for c in split]
        meta = {
            "config": asdict(cfg),
            "module": asdict(info),
            "counts": {f"{k}_chapters": len(v) for k, v in splits.items()}
            | {"cut_chapters": sum(n > cfg.max_tokens for n in lengths)},
            "subwords_per_chapter": _stats(lengths),
            "splits": {name: [c.ref for c in chapters] for name, chapters in splits.items()},
        }
        atomic_write_text(run_dir / "dataset.json", json.dumps(meta, indent=1, ensure_ascii=False))
        return task, splits

    @classmethod
    def load(cls, cfg: ChaptersConfig, run_dir: str | Path) -> "BibleChaptersTask":
        return cls(SubwordModel.load(Path(run_dir) / "subwords.model"), cfg)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[ChapterText]:
        return read_texts(Path(run_dir) / "data" / f"{split}.jsonl")

    # --- training ----------------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        return self.subwords.encode_ids(text)[: self.config.max_tokens]

    def encode(self, examples: Sequence[ChapterText]) -> list[tuple[list[int], int]]:
        return [(self._ids(c.text), c.label) for c in examples]

    @staticmethod
    def lengths(item: tuple[list[int], int]) -> tuple[int, int]:
        return len(item[0]), 1

    @staticmethod
    def loss_weight(item: tuple[list[int], int]) -> int:
        return 1

    def collate(self, items: Sequence[tuple[list[int], int]]) -> DocumentBatch:
        """Each chapter as a document of one sentence, padded to (B, 1, T)."""
        return collate_sequences(items, 0)

    loss = staticmethod(document_loss)

    # --- evaluation and prediction -----------------------------------------------------------------
    def evaluate(
        self, model: nn.Module, examples: Sequence[ChapterText], *, decode: Any = None
    ) -> tuple[dict[str, Any], list[ClassLabel]]:
        """Accuracy, macro-F1, per-class accuracy, the confusion matrix
        (:func:`attnkit.evaluation.classification_metrics`) and accuracy by length (``by_length``:
        [{"subwords": "1000-1999", "n", "accuracy"}], the length before the cut); one light
        prediction per chapter (no attention kept).

        Raises:
            ValueError: for no examples (`decode` is ignored: classification decodes nothing).
        """
        full = [self.subwords.encode_ids(c.text) for c in examples]
        probs, _ = forward_sequences(model, [ids[: self.config.max_tokens] for ids in full], 0)
        predicted = [int(p.argmax()) for p in probs]
        gold = [c.label for c in examples]
        metrics = classification_metrics(predicted, gold, len(self.classes))
        metrics["classes"] = self.classes
        right = [p == g for p, g in zip(predicted, gold)]
        starts = [len(ids) // LENGTH_BUCKET * LENGTH_BUCKET for ids in full]
        metrics["by_length"] = [
            row | {"subwords": f"{row['subwords']}-{row['subwords'] + LENGTH_BUCKET - 1}"}
            for row in accuracy_buckets(right, starts, "subwords")
        ]
        return metrics, [ClassLabel(self.classes[k], float(p[k]), g) for p, k, g in zip(probs, predicted, gold)]

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        lines = classification_report(metrics, "documents", detailed=detailed)
        if detailed:
            lines.append("accuracy by length (subwords):")
            lines += [f"  {r['subwords']:<16}{r['accuracy']:.2%}  (n={r['n']})" for r in metrics["by_length"]]
        return lines

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[DocumentPrediction]:
        """The section of each input line (a passage of text, cut at ``data.max_tokens``
        subwords), with the pooling weights on its subwords (shown in lines of 24).

        Raises:
            attnkit.errors.InputError: for an option (there are none), no lines, or a line without text.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        if not inputs:
            raise InputError("no input lines")
        pieces = []
        for i, text in enumerate(inputs, 1):
            if not text.strip():
                raise InputError(f"input {i} is empty; give a passage of text, one document per line")
            pieces.append(self.subwords.encode(text.strip())[: self.config.max_tokens])
        probs, weights = forward_sequences(model, [self._ids(text.strip()) for text in inputs], 0)
        return [lined_prediction(p_, p, w, self.classes) for p_, p, w in zip(pieces, probs, weights)]
