"""Translation with a pretrained Marian checkpoint (``attnkit import-hf``), tokenised as Hugging
Face's ``MarianTokenizer`` does.

The run folder keeps the checkpoint's tokenizer files under ``tokenizer/``: ``source.spm`` and
``target.spm`` (SentencePiece models) and ``vocab.json`` (piece -> Marian id, one vocabulary for
both sides). A source line becomes, as in ``MarianTokenizer``: an optional leading language code
``>>xx<<`` kept as one token, the source model's pieces, then ``</s>``; pieces missing from
``vocab.json`` become ``<unk>``. A target text is the target model's pieces (``</s>`` is added by
the batching, as for every attnkit seq2seq task). Output ids are detokenised as
``MarianTokenizer.decode(ids, skip_special_tokens=True)`` does.

attnkit's ids are Marian's ids reordered so that the specials sit where every attnkit decoder
looks for them (:class:`attnkit.data.Vocab`: 0 ``<pad>``, 1 ``<unk>``, 2 ``<s>``, 3 ``</s>``),
the other pieces following in Marian's order. Marian has no ``<s>``: its decoder starts from
``decoder_start_token_id`` (the pad id), so attnkit's ``<s>`` (id 2) stands for that token
(:func:`marian_ids` gives the Marian id of every attnkit id; the importer
:mod:`attnkit.pretrained.marian` reorders the embeddings with it).

Everything else is attnkit's seq2seq machinery (:class:`~attnkit.tasks.seq2seq.Seq2SeqTask`):
``attnkit translate / predict / align / evaluate`` and the explorer work on such a run as on a
trained translation run. ``evaluate`` needs ``data/{split}.src`` and ``.tgt`` files in the run
folder (an imported run has none until you put them there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence, cast

import sentencepiece as spm
from torch import nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import SPECIALS, Vocab, read_parallel
from ..decoding import DecodeOptions, ForcedAttention
from ..errors import ConfigError, InputError
from ..schema import check_positive
from .base import PrimaryMetric
from .seq2seq import Seq2SeqTask
from .translation import MAX_CHARS, TranslationExample, TranslationTask, max_output_len

if TYPE_CHECKING:
    from typing import Self

__all__ = ["PretrainedTranslationConfig", "PretrainedTranslationTask", "marian_ids", "TOKENIZER_DIR"]

TOKENIZER_DIR = "tokenizer"  # the tokenizer files' folder inside the run
_CODE = re.compile(r">>.*?<<")  # a leading language code such as >>fra<< (MarianTokenizer.remove_language_code)
_WORD_MARK = "\u2581"


@dataclass(frozen=True)
class PretrainedTranslationConfig:
    """``data.task: pretrained-translation``: the Marian special tokens and the longest texts.

    ``import-hf`` writes it from the checkpoint's ``config.json`` and ``tokenizer_config.json``."""

    task: str = "pretrained-translation"
    pad_token: str = "<pad>"
    unk_token: str = "<unk>"
    eos_token: str = "</s>"
    decoder_start_id: int = -1  # Marian id the decoder starts from; -1: the pad token's id
    vocab_size: int = 0  # the model's vocabulary size (rows of its embedding); 0: vocab.json's
    max_source_len: int = 511  # source pieces (without </s>): max_position_embeddings - 1
    max_target_len: int = 510  # output tokens (without </s>): max_position_embeddings - 2

    def check(self) -> None:
        """Raises ConfigError for non-positive lengths."""
        check_positive(self, "max_source_len", "max_target_len", section="data")
        if self.vocab_size < 0:
            raise ConfigError(f"data.vocab_size must be >= 0, got {self.vocab_size}")


def marian_ids(vocab: Mapping[str, int], cfg: PretrainedTranslationConfig) -> tuple[Vocab, list[int]]:
    """attnkit's vocabulary for a Marian ``vocab.json`` and the Marian id of each attnkit id.

    attnkit ids 0-3 are ``<pad> <unk> <s> </s>`` (:class:`Vocab`); they stand for Marian's pad,
    unk, decoder start (the pad id unless ``cfg.decoder_start_id`` says otherwise) and eos; the
    other Marian ids follow in their order. A Marian id in ``range(cfg.vocab_size)`` that
    ``vocab.json`` lacks gets the placeholder token ``<marian-ID>``.

    Returns:
        (the attnkit :class:`Vocab` of V + 1 tokens for Marian's V, the Marian id of each attnkit id).

    Raises:
        ConfigError: a special token missing from ``vocab.json``, two tokens with one id, an id
            outside the model's vocabulary, or a piece spelled like attnkit's ``<s>``.
    """
    for name in ("pad_token", "unk_token", "eos_token"):
        if getattr(cfg, name) not in vocab:
            raise ConfigError(f"vocab.json has no {getattr(cfg, name)!r} (data.{name}); is it a Marian vocabulary?")
    size = cfg.vocab_size or len(vocab)
    by_id: dict[int, str] = {}
    for token, i in vocab.items():
        if not isinstance(i, int) or not 0 <= i < size:
            raise ConfigError(f"vocab.json gives {token!r} the id {i!r}, outside the model's vocabulary of {size}")
        if i in by_id:
            raise ConfigError(f"vocab.json gives {by_id[i]!r} and {token!r} the same id {i}")
        by_id[i] = token
    pad, unk, eos = vocab[cfg.pad_token], vocab[cfg.unk_token], vocab[cfg.eos_token]
    start = pad if cfg.decoder_start_id < 0 else cfg.decoder_start_id
    if not 0 <= start < size:
        raise ConfigError(f"data.decoder_start_id={start} is outside the model's vocabulary of {size}")
    rest = [i for i in range(size) if i not in (pad, unk, eos)]
    tokens = [by_id.get(i, f"<marian-{i}>") for i in rest]
    clash = sorted(set(tokens) & set(SPECIALS))
    if clash:
        raise ConfigError(f"vocab.json has the piece {clash[0]!r} beside its specials; attnkit reserves it")
    return Vocab(tokens), [pad, unk, start, eos, *rest]


def _pieces(model: spm.SentencePieceProcessor, text: str) -> list[str]:
    """A leading language code ``>>xx<<`` as one token, then `model`'s pieces of the rest
    (``MarianTokenizer._tokenize``)."""
    code = _CODE.match(text) if text.startswith(">>") else None
    head = [code.group(0)] if code else []
    return head + model.encode(text[code.end() :] if code else text, out_type=str)


class PretrainedTranslationTask(Seq2SeqTask):
    """A Marian translation model's tokenisation (``MarianTokenizer``'s) on attnkit's seq2seq task.

    Args:
        source: the source SentencePiece model (``source.spm``).
        target: the target SentencePiece model (``target.spm``).
        vocab: ``vocab.json`` (piece -> Marian id).
        cfg: the ``data:`` section.

    Attributes:
        hf_ids: the Marian id of each attnkit id (:func:`marian_ids`).
        src_vocab, tgt_vocab: the one attnkit :class:`Vocab` of both sides.

    Raises:
        ConfigError: as :func:`marian_ids`.

    Differences from ``MarianTokenizer``: text that spells a special token (``"</s>"``) is cut
    into pieces like any text, not kept as that token; only one vocabulary for both sides
    (``separate_vocabs=False``, every OPUS-MT model's); no Moses punctuation normaliser (the
    tokenizer does not apply it either).
    """

    name = "pretrained-translation"
    config_class = PretrainedTranslationConfig
    default_family = "transformer"
    metric = PrimaryMetric("bleu", higher_is_better=True, best_possible=100.0)

    def __init__(
        self,
        source: spm.SentencePieceProcessor,
        target: spm.SentencePieceProcessor,
        vocab: Mapping[str, int],
        cfg: PretrainedTranslationConfig,
    ) -> None:
        self.source, self.target, self.cfg = source, target, cfg
        self.src_vocab, self.hf_ids = marian_ids(vocab, cfg)
        self.tgt_vocab = self.src_vocab
        self.max_source_len = cfg.max_source_len
        self.codes = {t for t in vocab if t.startswith(">>") and t.endswith("<<")}

    @property
    def max_target_len(self) -> int:
        return self.cfg.max_target_len

    @property
    def capabilities(self) -> TaskCapabilities:
        """A line of text in, decoded into a line of text."""
        return TaskCapabilities(InputKind.TEXT, decodes=True, max_source_len=self.max_source_len)

    def output_limit(self, n_source_tokens: int) -> int:
        """Most output tokens: 2 n + 10 (as ``translation``), at most ``data.max_target_len``."""
        return min(max_output_len(n_source_tokens), self.max_target_len)

    # --- the run folder ----------------------------------------------------------------------
    @classmethod
    def build(cls, data_cfg: Any, run_dir: str | Path) -> tuple[Self, dict[str, list]]:
        """Not trained from a config: such runs come from ``attnkit import-hf``.

        Raises:
            ConfigError: always.
        """
        raise ConfigError(
            "data.task=pretrained-translation runs are imported, not trained: attnkit import-hf MARIAN_FOLDER --out RUN"
        )

    @classmethod
    def load(cls, data_cfg: PretrainedTranslationConfig, run_dir: str | Path) -> Self:
        """The task of a run folder's ``tokenizer/`` files.

        Raises:
            ConfigError: a missing or unreadable tokenizer file.
        """
        folder = Path(run_dir) / TOKENIZER_DIR
        models = []
        for name in ("source.spm", "target.spm"):
            if not (folder / name).is_file():
                raise ConfigError(f"{folder / name} is missing; import the checkpoint again with attnkit import-hf")
            models.append(spm.SentencePieceProcessor(model_file=str(folder / name)))
        try:
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(f"{folder / 'vocab.json'}: {err}; import the checkpoint again") from None
        return cls(models[0], models[1], vocab, data_cfg)

    @staticmethod
    def load_split(run_dir: str | Path, split: str) -> Sequence[TranslationExample]:
        """Examples of ``data/{split}.src`` and ``.tgt`` in the run folder (put there by you).

        Raises:
            ConfigError: if the files are missing.
        """
        src, tgt = Path(run_dir) / "data" / f"{split}.src", Path(run_dir) / "data" / f"{split}.tgt"
        if not (src.is_file() and tgt.is_file()):
            raise ConfigError(
                f"this imported run has no {split} data: put {split}.src and {split}.tgt (one sentence a line) "
                f"in {src.parent}"
            )
        corpus = read_parallel(src, tgt, max_chars=MAX_CHARS)
        return [TranslationExample(s, t) for s, t in zip(corpus.src, corpus.tgt)]

    # --- tokenisation (MarianTokenizer's) ----------------------------------------------------
    def source_tokens(self, text: str, locale: str = "") -> list[str]:
        """The tokens of a source line: ``[>>code<<] pieces </s>`` (`locale` is ignored).

        Raises:
            InputError: for an empty line, or one of more than ``data.max_source_len`` tokens.
        """
        if not text.strip():
            raise InputError("empty input; give a sentence to translate")
        tokens = _pieces(self.source, text)
        if len(tokens) > self.max_source_len:
            raise InputError(
                f"input is {len(tokens)} subword tokens long; this model takes at most "
                f"{self.max_source_len} (data.max_source_len)"
            )
        return [*tokens, SPECIALS[3]]

    def encode_target(self, target: str) -> list[int]:
        """Ids of a target text's pieces (without ``</s>``; the batching adds it)."""
        return self.tgt_vocab.encode(_pieces(self.target, target))

    def decode_target(self, ids: Sequence[int]) -> str:
        """``MarianTokenizer.decode(ids, skip_special_tokens=True)``: specials (``<unk>``
        included) dropped, the pieces joined by the *source* model, as the tokenizer does with
        one shared vocabulary (its ``use_source_tokenizer`` default)."""
        pieces = [self.tgt_vocab.itos[i] for i in ids if i >= len(SPECIALS)]
        return cast(str, self.source.decode_pieces(pieces)).replace(_WORD_MARK, " ").strip()

    def forced_attention(
        self, model: nn.Module, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64, explain: str | None = None
    ) -> list[ForcedAttention]:
        """As :meth:`Seq2SeqTask.forced_attention`, over the text's own pieces: the columns of
        the trailing ``</s>`` and of a leading language code are left out (word alignment maps
        pieces to the words of the text); `explain` as there."""
        out = []
        for forced in super().forced_attention(model, pairs, batch_size=batch_size, explain=explain):
            first = 1 if forced.src_tokens and forced.src_tokens[0] in self.codes else 0
            out.append(ForcedAttention(forced.src_tokens[first:-1], forced.tgt_tokens, forced.weights[..., first:-1]))
        return out

    # --- evaluation (BLEU and chrF, as translation) ------------------------------------------
    def evaluate(
        self, model: nn.Module, examples: Sequence[TranslationExample], *, decode: DecodeOptions | None = None
    ) -> tuple[dict[str, Any], list]:
        """Corpus BLEU and chrF, and both per source-length bucket (as ``translation``)."""
        return TranslationTask.evaluate(cast(TranslationTask, self), model, examples, decode=decode)

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return TranslationTask.report(cast(TranslationTask, self), metrics, detailed=detailed)
