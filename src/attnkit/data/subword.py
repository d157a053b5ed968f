"""SentencePiece subword vocabularies whose ids are attnkit :class:`~attnkit.data.vocab.Vocab` ids.

A :class:`SubwordModel` splits text into subword pieces (BPE [Sennrich16] or the unigram language
model [Kudo18]) with the SentencePiece library [Kudo18b], trained in memory from a Python
iterable; nothing touches the disk until :meth:`SubwordModel.save`.

Design decisions:

- **Ids are attnkit ids.** The model is trained with SentencePiece's special ids set to attnkit's
  layout (``<pad>`` 0, ``<unk>`` 1, ``<s>`` 2, ``</s>`` 3, learnt pieces from 4), so
  :meth:`SubwordModel.encode_ids` returns ids that the rest of attnkit (``collate``, models,
  decoding) uses as they are, and :meth:`SubwordModel.to_vocab` gives a :class:`Vocab` over the
  same pieces with the same ids. ``encode_ids`` never adds ``<s>``/``</s>``; ``collate`` does.
  Loading a ``.model`` file with another layout is an error rather than a silent id shift.
- **Exact round trip.** Text is normalised with the ``"identity"`` rule and runs of spaces are
  kept, so ``decode(encode(text)) == text`` for any text whose characters were seen in training:
  the detokenised output is what BLEU/chrF score, so decoding must give back the text as
  written, not an NFKC-folded variant. ``normalization="nmt_nfkc"`` is available when folding
  full-width forms and ligatures is wanted; then the round trip gives the normalised text, and
  runs of spaces collapse to one.
- **Unknown characters** (unseen in training, or cut by ``character_coverage < 1``) become
  ``<unk>`` (id 1). :meth:`SubwordModel.decode` of pieces gives the original characters back;
  decoding ids gives SentencePiece's `` ⁇ `` in their place.
- **Determinism.** SentencePiece's own input sampling is not reproducible across processes, so
  sampling (when the corpus has more than ``max_sentences`` sentences) is done here with a seeded
  generator, and SentencePiece then trains on all it is given; the same sentences, options and
  thread count give a byte-identical model. Results do depend on ``num_threads``.

References:
    [Sennrich16] R. Sennrich, B. Haddow, A. Birch. Neural Machine Translation of Rare Words with
    Subword Units. ACL 2016. arXiv:1508.07909.
    [Kudo18] T. Kudo. Subword Regularization: Improving Neural Network Translation Models with
    Multiple Subword Candidates. ACL 2018. arXiv:1804.10959.
    [Kudo18b] T. Kudo, J. Richardson. SentencePiece: A simple and language independent subword
    tokenizer and detokenizer for Neural Text Processing. EMNLP 2018 (demo). arXiv:1808.06226.
"""

from __future__ import annotations

import io
import random
import re
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Sequence

import sentencepiece as spm

from ..io import atomic_path
from .vocab import SPECIALS, Vocab

__all__ = ["SubwordModel", "train_subwords", "MODEL_TYPES", "NORMALIZATIONS"]

MODEL_TYPES = ("bpe", "unigram")
NORMALIZATIONS = ("identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf")


class SubwordModel:
    """A trained SentencePiece model; piece ids are attnkit vocabulary ids (see the module docs).

    Build one with :meth:`train` or :meth:`load`; the constructor takes the serialized model.

    Args:
        model_proto: the serialized SentencePiece ``ModelProto`` (the bytes of a ``.model`` file).

    Raises:
        ValueError: if the bytes are not a SentencePiece model, or the model's ids 0-3 are not
            ``<pad> <unk> <s> </s>`` (a model not trained by attnkit).
    """

    def __init__(self, model_proto: bytes) -> None:
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=bytes(model_proto))
        except RuntimeError:
            raise ValueError("not a SentencePiece model (the bytes do not parse as a ModelProto)") from None
        layout = (self._sp.pad_id(), self._sp.unk_id(), self._sp.bos_id(), self._sp.eos_id())
        pieces = tuple(self._sp.id_to_piece(i) for i in range(min(4, self._sp.get_piece_size())))
        if layout != (0, 1, 2, 3) or pieces != SPECIALS:
            raise ValueError(
                f"SentencePiece model has special ids {layout} and first pieces {pieces}, but attnkit "
                f"needs ids (0, 1, 2, 3) = {SPECIALS}; train it with SubwordModel.train"
            )
        self._proto = bytes(model_proto)

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        *,
        vocab_size: int = 8000,
        model_type: str = "bpe",
        character_coverage: float = 1.0,
        normalization: str = "identity",
        max_sentences: int = 1_000_000,
        seed: int = 0,
        num_threads: int = 1,
    ) -> "SubwordModel":
        """Train a subword model on `sentences`, in memory.

        Args:
            sentences: the training text, one sentence per item (consumed once).
            vocab_size: pieces in the model, including the 4 specials; all of them are used (a
                hard limit), so a corpus too small for `vocab_size` is an error, not a smaller model.
            model_type: ``"bpe"`` [Sennrich16] or ``"unigram"`` [Kudo18].
            character_coverage: share of characters (by frequency, in (0, 1]) that get their own
                piece; the rarest rest become ``<unk>``. 1.0 suits alphabetic scripts; ~0.9995 is
                usual for Chinese or Japanese.
            normalization: a SentencePiece normalisation rule, one of `NORMALIZATIONS`;
                ``"identity"`` (default) keeps the text exactly, see the module docs.
            max_sentences: train on a random sample of this many sentences if there are more.
            seed: seeds that sample; without sampling it has no effect (training is deterministic).
            num_threads: SentencePiece training threads; the model depends on this number.

        Returns:
            The trained model.

        Raises:
            ValueError: if an option is out of range, there is no non-empty sentence, or
                `vocab_size` does not fit the corpus (the message gives the size that does).
            TypeError: if a sentence is not a ``str``.
        """
        _check_options(vocab_size, model_type, character_coverage, normalization, max_sentences, num_threads)
        sample = _sample(sentences, max_sentences, seed)
        writer = io.BytesIO()
        options: dict[str, Any] = dict(
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            normalization_rule_name=normalization,
            remove_extra_whitespaces=normalization != "identity",
            pad_id=0,
            unk_id=1,
            bos_id=2,
            eos_id=3,
            pad_piece=SPECIALS[0],
            unk_piece=SPECIALS[1],
            bos_piece=SPECIALS[2],
            eos_piece=SPECIALS[3],
            input_sentence_size=0,
            shuffle_input_sentence=False,  # sampled above, reproducibly
            max_sentence_length=1 << 16,
            num_threads=num_threads,
            minloglevel=2,
        )
        try:
            spm.SentencePieceTrainer.train(sentence_iterator=iter(sample), model_writer=writer, **options)
        except RuntimeError as err:
            raise _vocab_size_error(str(err), vocab_size) from None
        return cls(writer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "SubwordModel":
        """Read a model written by :meth:`save` (a SentencePiece ``.model`` file).

        Raises:
            FileNotFoundError: if `path` does not exist.
            ValueError: if the file is not a SentencePiece model trained by attnkit.
        """
        data = Path(path).read_bytes()
        try:
            return cls(data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    def save(self, path: str | Path) -> None:
        """Write the serialized model (a standard SentencePiece ``.model`` file), atomically."""
        with atomic_path(path) as tmp:
            tmp.write_bytes(self._proto)

    def to_bytes(self) -> bytes:
        """The serialized model, as written by :meth:`save`."""
        return self._proto

    @property
    def vocab_size(self) -> int:
        """Number of pieces, including the 4 specials (V)."""
        return self._sp.get_piece_size()

    def pieces(self) -> list[str]:
        """Every piece in id order, the specials ``<pad> <unk> <s> </s>`` first."""
        return [self._sp.id_to_piece(i) for i in range(self.vocab_size)]

    def to_vocab(self) -> Vocab:
        """A :class:`Vocab` over the same pieces with the same ids (for code that wants a Vocab)."""
        return Vocab(self.pieces()[len(SPECIALS) :])

    def encode(self, text: str) -> list[str]:
        """Subword pieces of `text` (``▁`` marks a preceding space); no ``<s>``/``</s>`` added."""
        return self._sp.encode(_check_text(text), out_type=str)

    def encode_ids(self, text: str) -> list[int]:
        """Ids of the pieces of `text`; unknown characters give ``<unk>`` (1)."""
        return self._sp.encode(_check_text(text), out_type=int)

    def decode(self, tokens: Sequence[str] | Sequence[int]) -> str:
        """Text of a sequence of pieces or of ids (ints, numpy or torch scalars).

        Special ids (pad, ``<s>``, ``</s>``) decode to nothing; an ``<unk>`` id to `` ⁇ ``.

        Raises:
            ValueError: if an id is outside [0, V).
            TypeError: if `tokens` mixes pieces and ids.
        """
        items: list[str | int] = list(tokens)
        pieces = [t for t in items if isinstance(t, str)]
        if len(pieces) == len(items):
            return self._sp.decode_pieces(pieces)
        if pieces:
            raise TypeError("decode takes a sequence of pieces (str) or of ids (int), not a mix")
        ids = [int(t) for t in items]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(
                f"ids {bad[:5]} are outside the vocabulary [0, {self.vocab_size}); "
                "were they made with another vocabulary?"
            )
        return self._sp.decode_ids(ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubwordModel) and other._proto == self._proto

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SubwordModel(vocab_size={self.vocab_size})"


def train_subwords(
    src_sentences: Iterable[str], tgt_sentences: Iterable[str], *, joint: bool, **options: Any
) -> tuple[SubwordModel, SubwordModel]:
    """Subword models for both sides of a parallel corpus.

    Args:
        src_sentences: source-language training text.
        tgt_sentences: target-language training text.
        joint: train one model on both sides and return it twice (shared vocabulary, e.g. for
            tied embeddings between related languages); otherwise one model per side.
        **options: keyword arguments of :meth:`SubwordModel.train` (``vocab_size``,
            ``model_type``, ...), applied to each model.

    Returns:
        (source model, target model); the same object twice when `joint`.

    Raises:
        ValueError, TypeError: as :meth:`SubwordModel.train`.
    """
    if joint:
        model = SubwordModel.train(chain(src_sentences, tgt_sentences), **options)
        return model, model
    return SubwordModel.train(src_sentences, **options), SubwordModel.train(tgt_sentences, **options)


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str to encode, got {type(text).__name__}")
    return text


def _check_options(
    vocab_size: int,
    model_type: str,
    character_coverage: float,
    normalization: str,
    max_sentences: int,
    num_threads: int,
) -> None:
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model_type {model_type!r}; choose one of {', '.join(MODEL_TYPES)}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIALS):
        raise ValueError(f"vocab_size must be an int above {len(SPECIALS)} (the specials), got {vocab_size!r}")
    if not 0.0 < character_coverage <= 1.0:
        raise ValueError(f"character_coverage must be in (0, 1], got {character_coverage!r}")
    if max_sentences <= 100:  # SentencePiece's own lower bound on a sample
        raise ValueError(f"max_sentences must be above 100, got {max_sentences!r}")
    if num_threads < 1:
        raise ValueError(f"num_threads must be at least 1, got {num_threads!r}")


def _sample(sentences: Iterable[str], max_sentences: int, seed: int) -> list[str]:
    """All the sentences, or `max_sentences` of them drawn with `seed`, in corpus order."""
    kept = list(sentences)
    for s in kept:
        if not isinstance(s, str):
            raise TypeError(f"training sentences must be str, got {type(s).__name__}")
    if not any(s.strip() for s in kept):
        raise ValueError("no non-empty sentence to train a subword model on")
    if len(kept) > max_sentences:
        chosen = sorted(random.Random(seed).sample(range(len(kept)), max_sentences))
        kept = [kept[i] for i in chosen]
    return kept


def _vocab_size_error(message: str, vocab_size: int) -> Exception:
    """Turn SentencePiece's vocabulary-size failures into a one-line ValueError; others pass."""
    too_high = re.search(r"Vocabulary size too high \(\d+\)\. Please set it to a value <= (\d+)", message)
    if too_high:
        return ValueError(
            f"vocab_size {vocab_size} too large for this corpus; at most about {too_high.group(1)} "
            "(lower vocab_size or train on more text)"
        )
    too_low = re.search(r"smaller than required_chars\. \d+ vs (\d+)", message)
    if too_low:
        return ValueError(
            f"vocab_size {vocab_size} too small for this corpus; its characters and the specials need "
            f"at least {too_low.group(1)} (raise vocab_size or lower character_coverage)"
        )
    return RuntimeError(f"SentencePiece training failed: {message.splitlines()[0] if message else 'no message'}")
