"""What a task tells a model family about its data: one :class:`ModelSpec` subclass per kind of
task (sequence to sequence, speech to sequence, documents, images, graph nodes, captions, spoken
words, one label per word). A task builds its spec from its data (vocabulary sizes, classes, lengths); a family
declares the spec class it builds for (``spec_class``), so a family never looks into a task and
a task never names a family. Specs import no model.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ModelSpec",
    "Seq2SeqSpec",
    "SpeechSeq2SeqSpec",
    "DocumentSpec",
    "ImageSpec",
    "NodeSpec",
    "CaptionSpec",
    "SpeechSpec",
    "TaggingSpec",
]


class ModelSpec:
    """What a task tells a model family about its data; a family checks it has the kind it takes."""


@dataclass(frozen=True)
class Seq2SeqSpec(ModelSpec):
    """A sequence-to-sequence task: token ids in, token ids out.

    Attributes:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (specials included).
        max_len: longest source or target sequence the model must place (positions), in tokens.
        pad_id: padding id of both vocabularies.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    max_len: int
    pad_id: int = 0


@dataclass(frozen=True)
class SpeechSeq2SeqSpec(Seq2SeqSpec):
    """A sequence-to-sequence task whose source is speech frames (B, T, n_mels), not token ids
    (``src_vocab_size`` is unused): the rnn and transformer families build their speech models
    (:mod:`attnkit.models.speech_seq2seq`); the frame encoder of the rnn family is its own option
    ``model.frontend``.

    Attributes:
        n_mels: frame width.
        max_len: longest encoder input (frames / 4) or target, in positions.
    """

    n_mels: int = 80


@dataclass(frozen=True)
class DocumentSpec(ModelSpec):
    """A document classification task: documents of sentences of word ids -> one of C classes.

    Attributes:
        vocab_size: word vocabulary size V.
        n_classes: number of classes C.
        pad_id: padding word id.
    """

    vocab_size: int
    n_classes: int
    pad_id: int = 0


@dataclass(frozen=True)
class ImageSpec(ModelSpec):
    """An image classification task: images (B, C, H, W) -> one of n_classes classes.

    Attributes:
        channels: image channels C.
        height, width: image size in pixels.
        n_classes: number of classes.
    """

    channels: int
    height: int
    width: int
    n_classes: int


@dataclass(frozen=True)
class NodeSpec(ModelSpec):
    """A node classification task on one graph: node features (N, in_dim) and edges -> a class per node.

    Attributes:
        in_dim: node feature width F.
        n_classes: number of classes.
    """

    in_dim: int
    n_classes: int


@dataclass(frozen=True)
class CaptionSpec(ModelSpec):
    """An image captioning task: images (B, C, H, W) -> token ids.

    Attributes:
        channels: image channels C.
        height, width: image size in pixels.
        vocab_size: caption vocabulary size V (specials included).
        pad_id: padding id.
    """

    channels: int
    height: int
    width: int
    vocab_size: int
    pad_id: int = 0


@dataclass(frozen=True)
class SpeechSpec(ModelSpec):
    """A speech classification task: log-mel frames (B, T, n_mels) -> one of n_classes classes."""

    n_mels: int
    n_classes: int


@dataclass(frozen=True)
class TaggingSpec(ModelSpec):
    """A sequence labelling task: a sentence of words in, one label per word for each target out
    (part of speech, morphology...). Masked-language-model pretraining is the same shape with one
    target, the word vocabulary itself.

    A model of this spec is called ``model(words, chars, mask)`` with words (B, T) and chars
    (B, T, L) int64 ids (0 = padding) and mask (B, T) bool (True = a real word), and returns a
    :class:`attnkit.models.tagging_io.TaggerOutput`.

    Attributes:
        vocab_size: word vocabulary size V (specials included).
        char_vocab_size: character vocabulary size (specials included).
        targets: (name, number of labels) per output head, in order, e.g.
            ``(("pos", 11), ("morph", 1066))``.
        max_len: longest sentence the model must place (positions), in words.
        max_word_len: characters read per word L (longer words are cut).
        pad_id: padding id of words and characters.
    """

    vocab_size: int
    char_vocab_size: int
    targets: tuple[tuple[str, int], ...]
    max_len: int
    max_word_len: int = 24
    pad_id: int = 0
