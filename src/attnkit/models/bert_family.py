"""The ``bert`` model family: :class:`~attnkit.models.bert.BertEncoder`, a BERT-like encoder
(BERT, MiniLM, RoBERTa) for the ``pretrained-encoder`` task (:class:`EncoderTextSpec`); its
``model:`` section holds the checkpoint's sizes, written by ``attnkit import-hf``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .bert import HEADS, BertEncoder
from .family import FAMILIES
from .specs import ModelSpec
from .transformer import _ACTIVATIONS

__all__ = ["EncoderTextSpec", "BertConfig", "BertFamily", "FLAVOURS"]

#: the Hugging Face architectures a ``bert`` model is exported as (their parameter names differ)
FLAVOURS = ("bert", "roberta")


@dataclass(frozen=True)
class EncoderTextSpec(ModelSpec):
    """A pretrained text encoder's task: token ids in, hidden states and attention out; the sizes
    are the model's own (``model:``), so the spec carries nothing."""


@dataclass(frozen=True)
class BertConfig:
    """``model.arch: bert``: :class:`attnkit.models.bert.BertEncoder`.

    Attributes:
        flavour: ``bert`` or ``roberta``: the Hugging Face architecture it came from and is
            exported as.
        vocab_size, d_model, n_heads, layers, d_ff: V, D (``hidden_size``), Nh, blocks,
            ``intermediate_size``.
        max_positions: rows of the position table (``max_position_embeddings``).
        type_vocab_size: rows of the token type table.
        eps: LayerNorm epsilon (``layer_norm_eps``).
        activation: the feed-forward activation (``gelu`` exact, ``gelu_tanh``, ``relu``, ``silu``).
        pad_id: padding token id.
        position_offset: position of the first token (RoBERTa: ``pad_token_id + 1``).
        pooler: has BERT's pooler (tanh(W h_[CLS] + b)).
        head: ``none``, ``mlm`` (masked LM) or ``classification`` (on the pooled output).
        n_labels: classes of the classification head (0 otherwise).
    """

    arch: str = "bert"
    flavour: str = "bert"
    vocab_size: int = 30522
    d_model: int = 768
    n_heads: int = 12
    layers: int = 12
    d_ff: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2
    eps: float = 1e-12
    activation: str = "gelu"
    pad_id: int = 0
    position_offset: int = 0
    pooler: bool = True
    head: str = "none"
    n_labels: int = 0

    def check(self) -> None:
        sizes = ("vocab_size", "d_model", "n_heads", "layers", "d_ff", "max_positions", "type_vocab_size")
        check_positive(self, *sizes, section="model")
        if self.flavour not in FLAVOURS:
            raise ConfigError(f"model.flavour={self.flavour!r} is unknown; choose one of: {', '.join(FLAVOURS)}")
        check_heads_and_activation(self)
        if self.head not in HEADS:
            raise ConfigError(f"model.head={self.head!r}; choose one of: {', '.join(HEADS)}")
        if self.head == "classification" and (not self.pooler or self.n_labels < 1):
            raise ConfigError("model.head=classification needs model.pooler=true and model.n_labels >= 1")
        if not 0 <= self.position_offset < self.max_positions or not 0 <= self.pad_id < self.vocab_size:
            raise ConfigError(
                "model.position_offset must lie in [0, max_positions) and model.pad_id in [0, vocab_size)"
            )
        if not self.eps > 0:
            raise ConfigError(f"model.eps must be > 0, got {self.eps}")


def check_heads_and_activation(cfg: Any) -> None:
    """ConfigError unless ``model.d_model`` divides into ``model.n_heads`` heads and
    ``model.activation`` names a feed-forward activation (the imported Transformers' sections)."""
    if cfg.d_model % cfg.n_heads:
        raise ConfigError(f"model.d_model={cfg.d_model} must be divisible by model.n_heads={cfg.n_heads}")
    if cfg.activation not in _ACTIVATIONS:
        raise ConfigError(f"model.activation={cfg.activation!r}; choose one of: {', '.join(_ACTIVATIONS)}")


class BertFamily:
    """BERT-like encoders [Devlin19], built from attnkit's post-LN encoder layers."""

    name = "bert"
    config_class = BertConfig
    spec_class = EncoderTextSpec

    @classmethod
    def build(cls, cfg: BertConfig, spec: ModelSpec) -> nn.Module:
        return BertEncoder(
            cfg.vocab_size,
            cfg.d_model,
            cfg.n_heads,
            cfg.layers,
            cfg.d_ff,
            max_positions=cfg.max_positions,
            type_vocab_size=cfg.type_vocab_size,
            eps=cfg.eps,
            activation=cfg.activation,
            pad_id=cfg.pad_id,
            position_offset=cfg.position_offset,
            pooler=cfg.pooler,
            head=cfg.head,
            n_labels=cfg.n_labels,
            head_activation="gelu" if cfg.flavour == "roberta" else cfg.activation,
        )

    @classmethod
    def label(cls, cfg: BertConfig) -> str:
        return f"{cfg.flavour}-{cfg.layers}x{cfg.d_model}"

    @classmethod
    def capabilities(cls, cfg: BertConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Every layer's and head's self-attention (``attention_maps``); no decoding."""
        return ModelCapabilities(layer_maps=True, n_heads=cfg.n_heads, explains=True)


FAMILIES.register(
    "bert",
    BertFamily,
    "BERT-like Transformer encoder (BERT, MiniLM, RoBERTa) for imported checkpoints",
    "[Devlin19]; [Liu19]",
)
