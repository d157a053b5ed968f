"""Bible sections: classify a chapter by the section of the canon its book belongs to.

A document-classification task for the Hierarchical Attention Network [Yang16]: documents are
chapters, sentences are verses, words are lower-cased word tokens, and the label is one of the
eight sections of the 66-book Protestant canon (the protocanon). The data set (the sections and
why they are grouped so, the caps on verses and words, the stratified split, the vocabulary and
the padded batches) is built by :mod:`attnkit.data.bible_sections`; this module is the task
plug-in: its ``data:`` section, the run folder, the loss, the metrics and the predictions.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data.bible_sections import (
    SECTIONS,
    Chapter,
    DocumentBatch,
    Reader,
    build_dataset,
    encode_batch,
    read_chapters,
    split_sentences,
    tokenize,
    write_chapters,
)
from ..data.vocab import Vocab
from ..errors import ConfigError, InputError
from ..evaluation import classification_metrics
from ..models.specs import DocumentSpec
from ..predictions import DOCUMENT
from ..schema import check_positive
from .base import LossContext, PrimaryMetric
from .classification import check_split_fractions, classification_report
from .pretraining import reuse_vocab

__all__ = ["SectionsConfig", "BibleSectionsTask", "DocumentPrediction"]


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
        vocab_from: a run folder whose word vocabulary (``vocab/words.txt``, e.g. of a
            masked-language-model run, ``data.task: mlm``) this run uses instead of building its
            own, so that ``train.init_from`` can load that run's encoder; "" = build one.
    """

    task: str = "bible-sections"
    module: str = "engWEB2015eb"
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    min_freq: int = 2
    max_verses: int = 64
    max_words: int = 50
    vocab_from: str = ""

    def check(self) -> None:
        """Raises ConfigError (a ValueError) naming the first field out of range."""
        check_split_fractions(self)
        check_positive(self, "min_freq", "max_verses", "max_words", section="data")
        if self.vocab_from and self.min_freq != 2:
            raise ConfigError(
                "data.min_freq has no effect with data.vocab_from (the vocabulary is that run's); remove it"
            )


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

    kind: ClassVar[str] = DOCUMENT

    output: str
    probability: float
    probabilities: list[float]
    sentences: list[list[str]]
    word_weights: Tensor
    sentence_weights: Tensor


def _padded_size(chapter: Chapter) -> int:
    return len(chapter.verses) * max(len(v) for v in chapter.verses)


def document_loss(model: nn.Module, batch: DocumentBatch, ctx: LossContext) -> Tensor:
    """Summed cross-entropy of the documents' labels (label smoothing from the train config): the
    loss of every task whose batch is a :class:`~attnkit.data.bible_sections.DocumentBatch`."""
    out = model(batch.tokens, batch.sentence_lengths, batch.n_sentences)
    return F.cross_entropy(out.logits.float(), batch.labels, reduction="sum", label_smoothing=ctx.train.label_smoothing)


@dataclass
class BibleSectionsTask:
    """Document classification of Bible chapters by section of the canon, as a task plug-in
    (:class:`attnkit.tasks.base.Task`); model family ``han`` [Yang16]. Items are
    :class:`Chapter` objects, batches :class:`DocumentBatch` es; the primary metric is test
    accuracy, and evaluation also gives macro-F1, per-class accuracy and the confusion matrix.
    """

    vocab: Vocab
    config: Any  # a SectionsConfig; a subclass reads its own (UserTextTask)

    name = "bible-sections"
    config_class = SectionsConfig
    default_family = "han"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "documents"
    spec_class = DocumentSpec

    @property
    def capabilities(self) -> TaskCapabilities:
        """A passage of text in, one of the sections out."""
        return TaskCapabilities(InputKind.TEXT, classes=tuple(self.classes))

    @property
    def spec(self) -> DocumentSpec:
        return DocumentSpec(len(self.vocab), len(self.classes), self.vocab.pad_id)

    @property
    def classes(self) -> list[str]:
        return [s.name for s in SECTIONS]

    @classmethod
    def build(
        cls, cfg: SectionsConfig, run_dir: str | Path, *, read: Reader | None = None
    ) -> tuple["BibleSectionsTask", dict[str, list[Chapter]]]:
        """Read the SWORD module, build the capped chapters, the stratified split and the vocabulary;
        write ``vocab.json``, ``dataset.json`` and ``data/{split}.jsonl`` into `run_dir`.

        Raises:
            attnkit.data.sword.SwordError: if the module is not installed or unreadable.
            attnkit.errors.ConfigError: for a module without protocanonical chapters, or a
                ``vocab_from`` folder without a word vocabulary.
        """
        try:
            dataset = build_dataset(cfg, read=read)
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError(f"data.module: {err}") from None
        run_dir = Path(run_dir)
        if cfg.vocab_from:
            dataset.vocab = reuse_vocab(cfg.vocab_from, run_dir)
            dataset.counts["vocab"] = len(dataset.vocab)
        dataset.save(run_dir)
        for split, chapters in dataset.splits.items():
            write_chapters(chapters, run_dir / "data" / f"{split}.jsonl")
        return cls(dataset.vocab, cfg), dataset.splits

    @classmethod
    def load(cls, cfg: SectionsConfig, run_dir: str | Path) -> "BibleSectionsTask":
        return cls(Vocab.load(Path(run_dir) / "vocab.json"), cfg)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[Chapter]:
        return read_chapters(Path(run_dir) / "data" / f"{split}.jsonl")

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

    loss = staticmethod(document_loss)

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def _probabilities(self, model: nn.Module, chapters: Sequence[Chapter], batch_size: int = 32):
        device = next(model.parameters()).device
        order = sorted(range(len(chapters)), key=lambda i: _padded_size(chapters[i]))
        probs: list[Any] = [None] * len(chapters)
        outs: list[Any] = [None] * len(chapters)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = encode_batch([chapters[i] for i in idx], self.vocab)
            out = model(batch.tokens.to(device), batch.sentence_lengths.to(device), batch.n_sentences.to(device))
            p = torch.softmax(out.logits.float(), dim=-1).cpu()
            for k, i in enumerate(idx):
                s, w = len(chapters[i].verses), max(len(v) for v in chapters[i].verses)
                probs[i] = p[k]
                outs[i] = (out.word_weights[k, :s, :w].cpu(), out.sentence_weights[k, :s].cpu())
        return probs, outs

    def evaluate(
        self, model: nn.Module, examples: Sequence[Chapter], *, decode: Any = None
    ) -> tuple[dict[str, Any], list[DocumentPrediction]]:
        """Accuracy, macro-F1, per-class accuracy and the confusion matrix
        (:func:`attnkit.evaluation.classification_metrics`), and one prediction per chapter.

        Raises:
            ValueError: for no examples (`decode` is ignored: classification decodes nothing).
        """
        probs, outs = self._probabilities(model, examples)
        predicted = [int(p.argmax()) for p in probs]
        metrics = classification_metrics(predicted, [c.label for c in examples], len(self.classes))
        metrics["classes"] = self.classes
        return metrics, [self._prediction(c.verses, p, o) for c, p, o in zip(examples, probs, outs)]

    def _prediction(self, sentences, p: Tensor, weights) -> DocumentPrediction:
        k = int(p.argmax())
        return DocumentPrediction(self.classes[k], float(p[k]), p.tolist(), [list(s) for s in sentences], *weights)

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return classification_report(metrics, "documents", detailed=detailed)

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[DocumentPrediction]:
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
