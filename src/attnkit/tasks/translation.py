"""Machine translation on any parallel corpus, with SentencePiece subwords.

The corpus is a folder with one file pair per split, ``{train,dev,test}.src`` and ``.tgt`` (one
sentence per line, as ``attnkit data bible`` writes), or ``{split}.tsv`` files (source TAB
target). Bad lines (invalid UTF-8, empty, over-long) are skipped and counted, never truncated
(:func:`attnkit.data.read_parallel`). Subword models are trained on the training split only and
stored in the run folder; the model's outputs are detokenised by them before they are printed or
scored, so BLEU/chrF see plain text.

Training pairs with more than ``data.max_source_len`` subword tokens on either side are left out
of training (counted in the log); dev and test sentences are never filtered, and a longer input
at translation time is an :class:`InputError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from torch import nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import SPECIALS, CorpusError, ParallelCorpus, SubwordModel, Vocab, read_parallel, read_tsv, train_subwords
from ..decoding import DecodeOptions
from ..errors import ConfigError, InputError
from ..evaluation import BucketScore, bleu_by_length, corpus_scores, format_scores_table
from ..io import atomic_write_text
from ..schema import check_positive
from .base import PrimaryMetric
from .seq2seq import Seq2SeqTask

if TYPE_CHECKING:
    from typing import Self  # (Python 3.11; annotations only, so 3.10 runs this module)

__all__ = ["TranslationExample", "TranslationTask", "TranslationConfig", "read_corpus_split", "max_output_len"]

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
MAX_CHARS = 2000  # longest accepted corpus line, in characters


@dataclass(frozen=True)
class TranslationExample:
    """A source sentence and its reference translation (``locale`` is unused: one language pair)."""

    text: str
    target: str
    locale: str = ""


def max_output_len(n_source_tokens: int) -> int:
    """Longest output considered for a source of `n_source_tokens` subword tokens: 2 x + 10."""
    return 2 * n_source_tokens + 10


def read_corpus_split(corpus: str | Path, split: str) -> ParallelCorpus:
    """Read one split of a corpus folder: ``split.src`` + ``split.tgt``, or ``split.tsv``.

    Raises:
        attnkit.data.CorpusError: if neither form exists, the files disagree in line count, or
            no usable pair is left.
    """
    folder = Path(corpus)
    if (folder / f"{split}.src").is_file() or (folder / f"{split}.tgt").is_file():
        return read_parallel(folder / f"{split}.src", folder / f"{split}.tgt", max_chars=MAX_CHARS)
    if (folder / f"{split}.tsv").is_file():
        return read_tsv(folder / f"{split}.tsv", max_chars=MAX_CHARS)
    if not folder.is_dir():
        raise CorpusError(
            f"corpus folder {folder} not found; build one with `attnkit data bible` or point "
            "data.corpus at a folder with train/dev/test .src and .tgt files"
        )
    raise CorpusError(f"corpus folder {folder} has no {split}.src/{split}.tgt or {split}.tsv")


@dataclass(frozen=True)
class TranslationConfig:
    """``data.task: translation``: the corpus folder and its subword vocabularies."""

    task: str = "translation"
    corpus: str = ""  # folder with {train,dev,test}.src/.tgt (or .tsv)
    n_dev: int = 1000  # dev examples validated on: the first n_dev of the corpus's dev split
    max_source_len: int = 64  # subword tokens
    seed: int = 1234
    subword: str = "bpe"  # bpe | unigram (SentencePiece)
    vocab_size: int = 8000  # subword vocabulary size per side (joint: shared)
    joint_vocab: bool = False  # one subword model for both sides

    def check(self) -> None:
        """Raises ConfigError when the corpus or subword settings are missing or invalid."""
        if not self.corpus:
            raise ConfigError(
                "data.corpus: give the corpus folder (train/dev/test .src and .tgt files), e.g. "
                "corpora/bible.spaRV1909eb-engWEB2015eb from `attnkit data bible`"
            )
        check_positive(self, "n_dev", "max_source_len", section="data")
        if self.subword not in ("bpe", "unigram"):
            raise ConfigError(f"data.subword: unknown {self.subword!r}; choose one of: bpe, unigram")
        if self.vocab_size < 8:
            raise ConfigError(f"data.vocab_size must be >= 8, got {self.vocab_size}")


@dataclass
class TranslationTask(Seq2SeqTask):
    """Subword models and vocabularies of a translation run.

    Args:
        src_subwords: SentencePiece model of the source side.
        tgt_subwords: of the target side (the same object for a joint vocabulary).
        max_source_len: longest accepted source, in subword tokens.
    """

    src_subwords: SubwordModel
    tgt_subwords: SubwordModel
    max_source_len: int

    name = "translation"
    config_class = TranslationConfig
    default_family = "rnn"
    metric = PrimaryMetric("bleu", higher_is_better=True, best_possible=100.0)  # corpus BLEU, 0-100
    src_offset = 0

    @property
    def capabilities(self) -> TaskCapabilities:
        """A line of text in, decoded into a line of text."""
        return TaskCapabilities(InputKind.TEXT, decodes=True, max_source_len=self.max_source_len)

    def __post_init__(self) -> None:
        self.src_vocab: Vocab = self.src_subwords.to_vocab()
        self.tgt_vocab: Vocab = self.tgt_subwords.to_vocab()

    @property
    def max_target_len(self) -> int:
        """Longest output for the longest accepted source (see :func:`max_output_len`)."""
        return max_output_len(self.max_source_len)

    @staticmethod
    def output_limit(n_source_tokens: int) -> int:
        """Longest output for a source of `n_source_tokens` tokens (:func:`max_output_len`)."""
        return max_output_len(n_source_tokens)

    @classmethod
    def build(cls, data_cfg, run_dir: str | Path) -> tuple[Self, dict[str, list[TranslationExample]]]:
        """Read the corpus, train the subword models on its training split, save both in `run_dir`.

        Raises:
            attnkit.errors.ConfigError: for an unreadable corpus, or one too small for the
                vocabulary size.
        """
        corpora = cls.read_corpora(data_cfg)
        for split, corpus in corpora.items():
            log.info("%s: %s", split, corpus.report())
        train = corpora["train"]
        if len(train) < 100:
            raise ConfigError(f"data.corpus: only {len(train)} training pairs; need at least 100 to train a model")
        try:
            src_sw, tgt_sw = train_subwords(
                train.src,
                train.tgt,
                joint=data_cfg.joint_vocab,
                vocab_size=data_cfg.vocab_size,
                model_type=data_cfg.subword,
                seed=data_cfg.seed,
            )
        except ValueError as err:
            raise ConfigError(f"data.vocab_size: {err}") from None
        task = cls(src_sw, tgt_sw, data_cfg.max_source_len)
        run_dir = Path(run_dir)
        splits = {}
        for split, corpus in corpora.items():
            examples = [TranslationExample(s, t) for s, t in zip(corpus.src, corpus.tgt)]
            if split == "dev":
                examples = examples[: data_cfg.n_dev]
            splits[split] = examples
            atomic_write_text(run_dir / "data" / f"{split}.src", "".join(e.text + "\n" for e in examples))
            atomic_write_text(run_dir / "data" / f"{split}.tgt", "".join(e.target + "\n" for e in examples))
        task.save(run_dir)
        return task, splits

    @staticmethod
    def read_corpora(data_cfg) -> dict[str, ParallelCorpus]:
        """Each split of ``data.corpus`` (a subclass may change the sides, e.g. swap them).

        Raises:
            attnkit.errors.ConfigError: for an unreadable corpus.
        """
        try:
            return {split: read_corpus_split(data_cfg.corpus, split) for split in SPLITS}
        except CorpusError as err:
            raise ConfigError(f"data.corpus: {err}") from None

    def save(self, run_dir: str | Path) -> None:
        self.src_subwords.save(Path(run_dir) / "subwords.src.model")
        self.tgt_subwords.save(Path(run_dir) / "subwords.tgt.model")

    @classmethod
    def load(cls, data_cfg, run_dir: str | Path) -> Self:
        """Rebuild the task from a run folder's subword models."""
        run_dir = Path(run_dir)
        return cls(
            SubwordModel.load(run_dir / "subwords.src.model"),
            SubwordModel.load(run_dir / "subwords.tgt.model"),
            data_cfg.max_source_len,
        )

    @staticmethod
    def load_split(run_dir: str | Path, split: str) -> Sequence[TranslationExample]:
        """Examples of a run folder's saved split ("train", "dev" or "test")."""
        corpus = read_parallel(
            Path(run_dir) / "data" / f"{split}.src", Path(run_dir) / "data" / f"{split}.tgt", max_chars=MAX_CHARS
        )
        return [TranslationExample(s, t) for s, t in zip(corpus.src, corpus.tgt)]

    def source_tokens(self, text: str, locale: str = "") -> list[str]:
        """Subword pieces of a source sentence (`locale` is ignored).

        Raises:
            InputError: for an empty text, or one of more than ``max_source_len`` pieces.
        """
        if not text.strip():
            raise InputError("empty input; give a sentence to translate")
        pieces = self.src_subwords.encode(text)
        if len(pieces) > self.max_source_len:
            raise InputError(
                f"input is {len(pieces)} subword tokens long; this model takes at most "
                f"{self.max_source_len} (data.max_source_len)"
            )
        return pieces

    def encode_target(self, target: str) -> list[int]:
        return self.tgt_subwords.encode_ids(target)

    def decode_target(self, ids: Sequence[int]) -> str:
        """Detokenised text of output ids (specials dropped)."""
        return self.tgt_subwords.decode([i for i in ids if i >= len(SPECIALS)])

    def pairs(self, examples: Sequence[TranslationExample]) -> tuple[list[list[int]], list[list[int]]]:
        """Source and target ids of the training examples that fit ``max_source_len`` on both sides."""
        src, tgt, dropped = [], [], 0
        for e in examples:
            s, t = self.src_subwords.encode_ids(e.text), self.tgt_subwords.encode_ids(e.target)
            if len(s) > self.max_source_len or len(t) > self.max_source_len:
                dropped += 1
                continue
            src.append(s)
            tgt.append(t)
        if dropped:
            log.info(
                "left out %d of %d training pairs longer than %d subword tokens (data.max_source_len)",
                dropped,
                len(examples),
                self.max_source_len,
            )
        return src, tgt

    def evaluate(
        self, model: nn.Module, examples: Sequence[TranslationExample], *, decode: DecodeOptions | None = None
    ) -> tuple[dict[str, Any], list]:
        """Corpus BLEU and chrF with their sacrebleu signatures, and both per source-length bucket
        ([Bahdanau15] Fig. 2; :func:`attnkit.evaluation.bleu_by_length`)."""
        translations = self.translate(model, [(e.text, e.locale) for e in examples], decode)
        scores = corpus_scores([t.output for t in translations], [e.target for e in examples])
        metrics: dict[str, Any] = {
            "bleu": scores.bleu,
            "chrf": scores.chrf,
            "bleu_signature": scores.bleu_signature,
            "chrf_signature": scores.chrf_signature,
            "n": len(examples),
        }
        buckets = bleu_by_length(
            [e.text for e in examples], [t.output for t in translations], [e.target for e in examples]
        )
        metrics["by_length"] = [{"words": b.label, "n": b.n, "bleu": b.bleu, "chrf": b.chrf} for b in buckets]
        return metrics, translations

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        """BLEU and chrF with signatures, then the BLEU-by-length table."""
        buckets = [BucketScore(b["words"], 0, None, b["n"], b["bleu"], b["chrf"]) for b in metrics.get("by_length", [])]
        lines = [
            f"{'sentences:':<16}{metrics['n']}",
            f"{'BLEU:':<16}{metrics['bleu']:.2f}  ({metrics['bleu_signature']})",
            f"{'chrF:':<16}{metrics['chrf']:.2f}  ({metrics['chrf_signature']})",
        ]
        if buckets:
            lines += ["", "BLEU by source length (words):", "", format_scores_table(buckets)]
        return lines
