"""The sequence labelling families (:class:`~attnkit.models.specs.TaggingSpec`): ``tagger-transformer``,
``tagger-bilstm``, ``tagger-cnn`` and ``tagger-bilstm-attention``, each a
:class:`~attnkit.models.tagger.Tagger` (a :class:`~attnkit.models.tagger.TaggerEncoder` and one
linear head per target) with its own body.

Every family shares the input options of :class:`TaggerInputConfig` (word embedding, character
encoder, word dropout, a tied ``word`` head for masked-language-model pretraining);
:func:`build_encoder` builds the encoder alone from any of the four configs, for models that put
another head on it (a document classifier, the masked-language model).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .attention_kernels import check_attention_keys, kernel_settings
from .family import FAMILIES, check_dropout, set_fields
from .specs import ModelSpec, TaggingSpec
from .tagger import (
    CHAR_ENCODERS,
    BiLSTMAttentionBody,
    BiLSTMBody,
    Body,
    ConvBody,
    SelfAttentionTagger,
    Tagger,
    TaggerEncoder,
    TransformerBody,
    WordCharEmbedding,
)

__all__ = [
    "TaggerInputConfig",
    "TaggerTransformerConfig",
    "TaggerBiLSTMConfig",
    "TaggerCNNConfig",
    "TaggerBiLSTMAttentionConfig",
    "TaggerTransformerFamily",
    "TaggerBiLSTMFamily",
    "TaggerCNNFamily",
    "TaggerBiLSTMAttentionFamily",
    "TAGGER_FAMILIES",
    "build_encoder",
]

_CHAR_OPTIONS = ("char_encoder", "char_emb", "char_kernel")  # meaningless without characters
_SUFFIX_OPTIONS = ("max_suffix", "suffix_buckets")  # meaningless without suffix features


@dataclass(frozen=True)
class TaggerInputConfig:
    """The input options every tagger family shares (the first fields of its ``model:`` section).

    ``char_dim: 0`` reads words only (then the character options must stay unset); ``suffix_dim``
    adds hashed embeddings of each word's last 1..``max_suffix`` characters;
    ``word_dropout`` replaces a training word by ``<unk>`` with that probability, so the
    character path learns to tag unseen words; ``tie_word_head`` scores a target named ``word``
    (masked-language-model pretraining) through the word embedding.
    """

    arch: str = ""
    word_dim: int = 100  # word embedding width
    char_dim: int = 100  # character encoding width ([Plank16]: 100); 0 = words only
    char_encoder: str = "bilstm"  # bilstm (final states) | cnn (max-pooled convolution)
    char_emb: int = 30  # character embedding width
    char_kernel: int = 3  # the character CNN's window, in characters (odd)
    # hashed features of the last 1..max_suffix characters; 0 = none (the default, so that runs saved
    # before the option existed load); 32 is what docs measured on SBLGNT
    suffix_dim: int = 0
    max_suffix: int = 4  # longest suffix, in characters
    suffix_buckets: int = 16384  # rows of the hashed suffix table
    word_dropout: float = 0.1  # P(a training word id -> <unk>)
    dropout: float = 0.2
    tie_word_head: bool = False  # the `word` head's weights = the word embedding (MLM)

    def check(self) -> None:
        """Raises ConfigError for sizes out of range, unknown names and ignored options."""
        check_positive(self, "word_dim", "char_emb", "char_kernel", "max_suffix", section="model")
        if self.suffix_dim < 0 or self.suffix_buckets < 2:
            raise ConfigError(
                f"model.suffix_dim must be >= 0 (0 = no suffix features) and model.suffix_buckets >= 2, got "
                f"{self.suffix_dim} and {self.suffix_buckets}"
            )
        if self.suffix_dim == 0:
            for name in sorted(set_fields(self) & set(_SUFFIX_OPTIONS)):
                raise ConfigError(f"model.{name} has no effect with suffix_dim=0 (no suffix features); remove it")
        check_dropout(self.dropout)
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError(f"model.word_dropout is a probability in [0, 1), got {self.word_dropout}")
        if self.char_dim < 0:
            raise ConfigError(f"model.char_dim must be >= 0 (0 = words only), got {self.char_dim}")
        if self.char_encoder not in CHAR_ENCODERS:
            raise ConfigError(
                f"model.char_encoder: unknown {self.char_encoder!r}; choose one of: {', '.join(CHAR_ENCODERS)}"
            )
        if self.char_kernel % 2 == 0:
            raise ConfigError(f"model.char_kernel must be odd, got {self.char_kernel}")
        if self.char_encoder == "bilstm" and self.char_dim % 2:
            raise ConfigError(
                f"model.char_dim must be even for char_encoder=bilstm (two directions), got {self.char_dim}"
            )
        if self.char_encoder == "bilstm" and "char_kernel" in set_fields(self):
            raise ConfigError("model.char_kernel applies to char_encoder=cnn only; remove it")
        if self.char_dim == 0:
            for name in sorted(set_fields(self) & set(_CHAR_OPTIONS)):
                raise ConfigError(f"model.{name} has no effect with char_dim=0 (words only); remove it")


@dataclass(frozen=True)
class TaggerTransformerConfig(TaggerInputConfig):
    """``model.arch: tagger-transformer``: pre-LN self-attention blocks
    (:class:`~attnkit.models.tagger.TransformerBody`)."""

    arch: str = "tagger-transformer"
    d_model: int = 128
    n_heads: int = 4
    layers: int = 2
    d_ff: int = 256
    positional: str = "sinusoidal"  # attnkit list positional: sinusoidal, learned, rope, alibi, none
    # efficient self-attention (attnkit.models.attention_kernels): a kernel name and its options, 0 = not set
    attention_kernel: str = "dense"  # dense | window | linear | flex | ... (attnkit.functional.ATTENTION_KERNELS)
    attention_window: int = 0  # window, flex: half-width in tokens (keys within that distance)
    attention_global_tokens: int = 0  # window, flex: the first G positions attend and are attended everywhere
    attention_chunk_size: int = 0  # linear: chunk length of the causal form
    attention_num_features: int = 0  # performer: random features per head
    attention_num_landmarks: int = 0  # nystrom: landmarks per head

    def check(self) -> None:
        from ..nn.positional import POSITIONAL

        super().check()
        check_positive(self, "d_model", "n_heads", "layers", "d_ff", section="model")
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")
        if self.positional not in POSITIONAL:
            raise ConfigError(
                f"model.positional: unknown {self.positional!r}; choose one of: {', '.join(POSITIONAL.names())}"
            )
        if self.positional == "rope" and (self.d_model // self.n_heads) % 2:
            raise ConfigError("model.positional=rope needs an even head width d_model / n_heads")
        check_attention_keys(self, positional=self.positional)


@dataclass(frozen=True)
class TaggerBiLSTMConfig(TaggerInputConfig):
    """``model.arch: tagger-bilstm``: a BiLSTM over the words (:class:`~attnkit.models.tagger.BiLSTMBody`)."""

    arch: str = "tagger-bilstm"
    hidden: int = 128  # units per direction
    layers: int = 1

    def check(self) -> None:
        super().check()
        check_positive(self, "hidden", "layers", section="model")


@dataclass(frozen=True)
class TaggerCNNConfig(TaggerInputConfig):
    """``model.arch: tagger-cnn``: stacked residual convolutions over the words
    (:class:`~attnkit.models.tagger.ConvBody`)."""

    arch: str = "tagger-cnn"
    channels: int = 128  # width of every convolution
    kernel: int = 3  # window in words (odd)
    layers: int = 3

    def check(self) -> None:
        super().check()
        check_positive(self, "channels", "kernel", "layers", section="model")
        if self.kernel % 2 == 0:
            raise ConfigError(f"model.kernel must be odd (centred on its word), got {self.kernel}")


@dataclass(frozen=True)
class TaggerBiLSTMAttentionConfig(TaggerBiLSTMConfig):
    """``model.arch: tagger-bilstm-attention``: a BiLSTM, then one self-attention layer with a residual
    and LayerNorm (:class:`~attnkit.models.tagger.BiLSTMAttentionBody`)."""

    arch: str = "tagger-bilstm-attention"
    n_heads: int = 4

    def check(self) -> None:
        super().check()
        check_positive(self, "n_heads", section="model")
        if 2 * self.hidden % self.n_heads:
            raise ConfigError(
                f"model.n_heads={self.n_heads} must divide the BiLSTM's width 2 * model.hidden = {2 * self.hidden}"
            )


def _embedding(cfg: TaggerInputConfig, spec: TaggingSpec) -> WordCharEmbedding:
    return WordCharEmbedding(
        spec.vocab_size,
        spec.char_vocab_size,
        word_dim=cfg.word_dim,
        char_dim=cfg.char_dim,
        char_encoder=cfg.char_encoder,
        char_emb=cfg.char_emb,
        char_kernel=cfg.char_kernel,
        suffix_dim=cfg.suffix_dim,
        max_suffix=cfg.max_suffix,
        suffix_buckets=cfg.suffix_buckets,
        word_dropout=cfg.word_dropout,
        dropout=cfg.dropout,
        pad_id=spec.pad_id,
    )


class _TaggerFamily(ABC):
    """What the four families share: the encoder, the heads, the label and the capabilities."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    spec_class: ClassVar[type] = TaggingSpec
    attends: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def body(cls, cfg: Any, in_dim: int, spec: TaggingSpec) -> Body:
        """The family's contextual layers over word vectors of width `in_dim`."""

    @classmethod
    def encoder(cls, cfg: Any, spec: TaggingSpec) -> TaggerEncoder:
        """The shared encoder alone (no heads) for the vocabularies and lengths of `spec`."""
        embed = _embedding(cfg, spec)
        return TaggerEncoder(embed, cls.body(cfg, embed.width, spec))

    @classmethod
    def build(cls, cfg: Any, spec: ModelSpec) -> Tagger:
        if not isinstance(spec, TaggingSpec) or not spec.targets:
            raise ConfigError(f"model.arch={cls.name} needs a sequence labelling task with at least one target")
        if cfg.tie_word_head and dict(spec.targets).get("word") != spec.vocab_size:
            raise ConfigError(
                f"model.tie_word_head needs a target named word over the {spec.vocab_size} words "
                "(masked-language-model pretraining); set it false"
            )
        encoder = cls.encoder(cfg, spec)
        return (SelfAttentionTagger if encoder.attends else Tagger)(encoder, spec.targets, tie_word=cfg.tie_word_head)

    @classmethod
    def label(cls, cfg: Any) -> str:
        return cls.name + ("" if cfg.char_dim else "-words")

    @classmethod
    def capabilities(cls, cfg: Any, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Per-layer self-attention maps (``attention_maps``) for the families that attend; no decoding."""
        if not cls.attends:
            return ModelCapabilities(attention=False)
        return ModelCapabilities(layer_maps=True, n_heads=cfg.n_heads)


class TaggerTransformerFamily(_TaggerFamily):
    """Self-attention encoder tagger over words and characters [Vaswani17], [Ma16]."""

    name, config_class, attends = "tagger-transformer", TaggerTransformerConfig, True

    @classmethod
    def capabilities(cls, cfg: TaggerTransformerConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Per-layer self-attention maps, drawn from the chosen attention kernel; no decoding."""
        return ModelCapabilities(layer_maps=True, n_heads=cfg.n_heads, attention_kernel=cfg.attention_kernel)

    @classmethod
    def body(cls, cfg: TaggerTransformerConfig, in_dim: int, spec: TaggingSpec) -> Body:
        kernel, options = kernel_settings(cfg)
        return TransformerBody(
            in_dim,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            layers=cfg.layers,
            d_ff=cfg.d_ff,
            dropout=cfg.dropout,
            positional=cfg.positional,
            max_len=spec.max_len,
            attention_kernel=kernel,
            kernel_options=options,
        )


class TaggerBiLSTMFamily(_TaggerFamily):
    """BiLSTM tagger over words and characters [Huang15], [Plank16]."""

    name, config_class = "tagger-bilstm", TaggerBiLSTMConfig

    @classmethod
    def body(cls, cfg: TaggerBiLSTMConfig, in_dim: int, spec: TaggingSpec) -> Body:
        return BiLSTMBody(in_dim, hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout)


class TaggerCNNFamily(_TaggerFamily):
    """Convolutional tagger: stacked convolutions over the words [Collobert11]."""

    name, config_class = "tagger-cnn", TaggerCNNConfig

    @classmethod
    def body(cls, cfg: TaggerCNNConfig, in_dim: int, spec: TaggingSpec) -> Body:
        return ConvBody(in_dim, channels=cfg.channels, kernel=cfg.kernel, layers=cfg.layers, dropout=cfg.dropout)


class TaggerBiLSTMAttentionFamily(_TaggerFamily):
    """BiLSTM then one multi-head self-attention layer [Huang15], [Vaswani17]."""

    name, config_class, attends = "tagger-bilstm-attention", TaggerBiLSTMAttentionConfig, True

    @classmethod
    def body(cls, cfg: TaggerBiLSTMAttentionConfig, in_dim: int, spec: TaggingSpec) -> Body:
        return BiLSTMAttentionBody(
            in_dim, hidden=cfg.hidden, layers=cfg.layers, n_heads=cfg.n_heads, dropout=cfg.dropout
        )


#: the tagger families by ``model.arch``
TAGGER_FAMILIES: dict[str, type[_TaggerFamily]] = {
    f.name: f for f in (TaggerTransformerFamily, TaggerBiLSTMFamily, TaggerCNNFamily, TaggerBiLSTMAttentionFamily)
}


def build_encoder(cfg: TaggerInputConfig, spec: TaggingSpec) -> TaggerEncoder:
    """The :class:`~attnkit.models.tagger.TaggerEncoder` of any tagger family's config, for a model
    that puts its own head on it (its parameters keep the names a :class:`Tagger` gives them
    under ``encoder.``). `spec.targets` may be empty.

    Raises:
        ConfigError: if `cfg` is not the config of a tagger family.
    """
    family = TAGGER_FAMILIES.get(cfg.arch)
    if family is None or not isinstance(cfg, family.config_class):
        raise ConfigError(f"an encoder needs a tagger family's config; choose one of: {', '.join(TAGGER_FAMILIES)}")
    return family.encoder(cfg, spec)


for _family, _help, _refs in (
    (TaggerTransformerFamily, "sequence labelling: pre-LN self-attention over words + characters", "[Vaswani17]"),
    (TaggerBiLSTMFamily, "sequence labelling: BiLSTM over words + characters", "[Huang15]; [Plank16]"),
    (TaggerCNNFamily, "sequence labelling: stacked convolutions over words + characters", "[Collobert11]; [Ma16]"),
    (
        TaggerBiLSTMAttentionFamily,
        "sequence labelling: BiLSTM + one multi-head self-attention layer",
        "[Huang15]; [Vaswani17]",
    ),
):
    FAMILIES.register(_family.name, _family, _help, _refs)
