"""Model families as plug-ins: each owns its config section (``model:``) and builds its model.

A family is registered by name in :data:`FAMILIES`; ``model.arch`` in a run config selects it,
and the rest of the ``model:`` section is loaded strictly into the family's ``config_class``.
:meth:`ModelFamily.build` receives the task's :class:`ModelSpec` (vocabulary sizes, classes,
lengths), so a family never looks into a task and a task never names a family. Adding a family
is one class here or in any module (even outside attnkit) and one :meth:`Registry.register` call;
``docs/architecture.md`` shows the smallest complete example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import nn

from ..errors import ConfigError
from ..registry import Registry
from ..schema import check_positive
from .captioner import CAPTION_ATTENTIONS, ShowAttendTell
from .cnn_classifier import CNN_ATTENTIONS, CNN_HEADS, AttentionCNN
from .gnn import GATClassifier, GCNClassifier, MLPClassifier
from .han import HierarchicalAttentionNetwork
from .rnn_seq2seq import DECODER_OPTIONS, DECODERS, INITS, Seq2Seq, decoder_options
from .speech_seq2seq import SpeechSeq2Seq, SpeechTransformer
from .transformer import TransformerSeq2Seq
from .vit import VisionTransformer

__all__ = ["ModelSpec", "Seq2SeqSpec", "DocumentSpec", "ImageSpec", "ModelFamily", "FAMILIES", "RNNConfig",
           "TransformerConfig", "HANConfig", "CNNConfig", "ViTConfig", "NodeSpec", "GATConfig", "GCNConfig",
           "MLPConfig", "CaptionSpec", "CaptionConfig", "SpeechSeq2SeqSpec"]


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
    (:mod:`attnkit.models.speech_seq2seq`) with the frame encoder the task names.

    Attributes:
        n_mels: frame width.
        frontend: "pyramid" (LAS listener), "conv" (strided convolutions and a BiLSTM) or
            "self-attention" (strided convolutions and Transformer encoder layers) for the RNN models;
            their ``model.enc_layers`` counts pyramid layers, BiLSTM layers over the convolutions, or
            encoder layers.
        max_len: longest encoder input (frames / 4) or target, in positions.
    """

    n_mels: int = 80
    frontend: str = "pyramid"


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


@runtime_checkable
class ModelFamily(Protocol):
    """The interface of a model family plug-in (a class with these class attributes/methods).

    Attributes:
        name: the ``model.arch`` value that selects it.
        config_class: frozen dataclass of the ``model:`` section; its first field is ``arch``,
            and ``check()`` raises :class:`~attnkit.errors.ConfigError` for bad or ignored
            options.
        spec_class: the :class:`ModelSpec` subclass the family can build for.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    spec_class: ClassVar[type]

    @classmethod
    def build(cls, cfg: Any, spec: ModelSpec) -> nn.Module:
        """The model for `spec`, with the sizes of `cfg` (parameters freshly initialised)."""

    @classmethod
    def label(cls, cfg: Any) -> str:
        """A short human name of the configured model (e.g. its attention), for tables and logs."""


def _set_fields(cfg: Any) -> set[str]:
    """Fields of a config dataclass that differ from their defaults (i.e. that the user set)."""
    return {f.name for f in fields(cfg) if getattr(cfg, f.name) != f.default}


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout must lie in [0, 1), got {dropout}")


@dataclass(frozen=True)
class RNNConfig:
    """``model.arch: rnn``: an RNN encoder-decoder (:class:`attnkit.models.Seq2Seq`); its attention by name."""

    arch: str = "rnn"
    attention: str = "bahdanau"  # attnkit list attention
    cell: str = "gru"
    emb_dim: int = 32
    hidden_dim: int = 64
    bidirectional: bool = True
    attn_dim: int = 64
    input_feeding: bool = True  # Luong decoders only
    normaliser: str = "softmax"  # alignment function (attnkit list normalisers)
    local_window: int = 10  # half-width D of local attention windows, in source tokens
    enc_layers: int = 1
    dec_layers: int = 1  # layers of luong-stacked
    loc_filters: int = 10  # location-aware: filters Nf over the previous weights
    loc_kernel: int = 31  # location-aware: odd filter width r, in source positions
    dropout: float = 0.0
    init: str = "torch"  # torch (PyTorch's defaults) | paper (the decoder's paper's initialisation)

    def check(self) -> None:
        """Raises ConfigError for an unknown name, a value out of range, or an option the chosen
        attention would ignore."""
        if self.init not in INITS:
            raise ConfigError(f"model.init: unknown {self.init!r}; choose one of: {', '.join(INITS)}")
        if self.attention not in DECODERS:
            raise ConfigError(f"model.attention: unknown attention {self.attention!r}; choose one "
                              f"of: {', '.join(DECODERS.names())}")
        from ..functional import NORMALISERS

        if self.normaliser not in NORMALISERS:
            raise ConfigError(f"model.normaliser: unknown {self.normaliser!r}; choose one of: "
                              f"{', '.join(NORMALISERS.names())}")
        if self.cell not in ("gru", "lstm"):
            raise ConfigError(f"model.cell: unknown cell {self.cell!r}; choose one of: gru, lstm")
        check_positive(self, "emb_dim", "hidden_dim", "attn_dim", "enc_layers", "dec_layers", "loc_filters",
                       section="model")
        if self.loc_kernel < 1 or self.loc_kernel % 2 == 0:
            raise ConfigError(f"model.loc_kernel must be odd and >= 1, got {self.loc_kernel}")
        _check_dropout(self.dropout)
        for name in sorted(_set_fields(self) & self.ignored_fields()):
            raise ConfigError(f"model.{name} does not apply to model.attention={self.attention} "
                              f"({_IGNORED_WHY[name]}); remove it")
        if self.normaliser == "reinforce" and not self.attention.startswith("bahdanau"):
            raise ConfigError("model.normaliser=reinforce is trained through Bahdanau attention; use "
                              "model.attention=bahdanau, or normaliser gumbel/hard")
        if self.attention.startswith("luong-local") and (self.local_window < 1 or self.normaliser != "softmax"):
            raise ConfigError("local attention needs model.local_window >= 1 and model.normaliser=softmax")
        if self.attention == "luong-dot" and self.bidirectional:
            raise ConfigError("model.attention=luong-dot needs equal decoder and annotation widths; "
                              "set model.bidirectional=false or use luong-general")

    def ignored_fields(self) -> set[str]:
        """The options the chosen attention's decoder does not take
        (:func:`attnkit.models.rnn_seq2seq.decoder_options`); setting one is an error, and the
        resolved config a run writes leaves them out."""
        return set(DECODER_OPTIONS) - set(decoder_options(self.attention))


_IGNORED_WHY = {
    "normaliser": "its alignment is fixed",
    "attn_dim": "the hidden width of additive/concat scores; this attention has none",
    "input_feeding": "its decoder does not feed h~ back as an option",
    "local_window": "only luong-local-m/-p have a window",
    "dec_layers": "only luong-stacked has several decoder layers",
    "loc_filters": "only location-aware attention convolves the previous weights",
    "loc_kernel": "only location-aware attention convolves the previous weights",
}


class RNNFamily:
    """RNN encoder-decoders with any registered attention [Cho14], [Bahdanau15], [Luong15]."""

    name = "rnn"
    config_class = RNNConfig
    spec_class = Seq2SeqSpec

    @classmethod
    def build(cls, cfg: RNNConfig, spec: Seq2SeqSpec) -> nn.Module:
        options = {f.name: getattr(cfg, f.name) for f in fields(cfg)
                   if f.name not in cfg.ignored_fields() and f.name != "arch"}
        if isinstance(spec, SpeechSeq2SeqSpec):  # frames in: the listener replaces the token encoder
            return SpeechSeq2Seq(spec.n_mels, spec.tgt_vocab_size, frontend=spec.frontend, pad_id=spec.pad_id,
                                 **options)
        return Seq2Seq(spec.src_vocab_size, spec.tgt_vocab_size, pad_id=spec.pad_id, **options)

    @classmethod
    def label(cls, cfg: RNNConfig) -> str:
        return cfg.attention


@dataclass(frozen=True)
class TransformerConfig:
    """``model.arch: transformer``: :class:`attnkit.models.TransformerSeq2Seq`."""

    arch: str = "transformer"
    d_model: int = 128
    n_heads: int = 4
    num_kv_heads: int = 0  # 0 = as many as n_heads; fewer = grouped-query attention
    enc_layers: int = 1
    dec_layers: int = 1
    d_ff: int = 512
    norm: str = "pre"  # pre-LN or post-LN residual blocks
    positional: str = "sinusoidal"  # attnkit list positional
    tie_embeddings: bool = False
    dropout: float = 0.0

    def check(self) -> None:
        """Raises ConfigError for sizes that do not fit together or unknown names."""
        from ..nn.positional import POSITIONAL

        check_positive(self, "d_model", "n_heads", "enc_layers", "dec_layers", "d_ff", section="model")
        _check_dropout(self.dropout)
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")
        if self.num_kv_heads < 0 or (self.num_kv_heads and self.n_heads % self.num_kv_heads):
            raise ConfigError(f"model.num_kv_heads={self.num_kv_heads} must divide model.n_heads={self.n_heads} "
                              "(0 = one key/value head per query head)")
        if (self.d_model // self.n_heads) % 2 and self.positional == "rope":
            raise ConfigError("model.positional=rope needs an even head width d_model / n_heads")
        if self.norm not in ("pre", "post"):
            raise ConfigError(f"model.norm: unknown {self.norm!r}; choose one of: pre, post")
        if self.positional not in POSITIONAL:
            raise ConfigError(f"model.positional: unknown {self.positional!r}; choose one of: "
                              f"{', '.join(POSITIONAL.names())}")


class TransformerFamily:
    """Transformer encoder-decoders (pre/post-LN, GQA, RoPE/ALiBi/sinusoidal, KV cache) [Vaswani17]."""

    name = "transformer"
    config_class = TransformerConfig
    spec_class = Seq2SeqSpec

    @classmethod
    def build(cls, cfg: TransformerConfig, spec: Seq2SeqSpec) -> nn.Module:
        speech = isinstance(spec, SpeechSeq2SeqSpec)  # frames in: convolutional subsampling as the source embedding
        return (SpeechTransformer if speech else TransformerSeq2Seq)(
            spec.n_mels if speech else spec.src_vocab_size, spec.tgt_vocab_size, d_model=cfg.d_model, n_heads=cfg.n_heads,
            num_kv_heads=cfg.num_kv_heads or None, enc_layers=cfg.enc_layers, dec_layers=cfg.dec_layers,
            d_ff=cfg.d_ff, dropout=cfg.dropout, norm_first=cfg.norm == "pre", positional=cfg.positional,
            tie_embeddings=cfg.tie_embeddings, max_len=spec.max_len, pad_id=spec.pad_id)

    @classmethod
    def label(cls, cfg: TransformerConfig) -> str:
        return "transformer"


@dataclass(frozen=True)
class HANConfig:
    """``model.arch: han``: :class:`attnkit.models.HierarchicalAttentionNetwork` (sizes of [Yang16] Sec. 3.3)."""

    arch: str = "han"
    emb_dim: int = 200
    hidden_dim: int = 50
    attn_dim: int = 100
    dropout: float = 0.3

    def check(self) -> None:
        check_positive(self, "emb_dim", "hidden_dim", "attn_dim", section="model")
        _check_dropout(self.dropout)


class HANFamily:
    """Hierarchical Attention Networks for document classification [Yang16]."""

    name = "han"
    config_class = HANConfig
    spec_class = DocumentSpec

    @classmethod
    def build(cls, cfg: HANConfig, spec: DocumentSpec) -> nn.Module:
        return HierarchicalAttentionNetwork(spec.vocab_size, spec.n_classes, emb_dim=cfg.emb_dim,
                                            hidden_dim=cfg.hidden_dim, attn_dim=cfg.attn_dim,
                                            dropout=cfg.dropout, pad_id=spec.pad_id)

    @classmethod
    def label(cls, cfg: HANConfig) -> str:
        return "han"


@dataclass(frozen=True)
class CNNConfig:
    """``model.arch: cnn``: :class:`attnkit.models.AttentionCNN`, its attention by name."""

    arch: str = "cnn"
    attention: str = "none"  # none | se | eca | cbam | nonlocal
    stn: bool = False  # a spatial transformer in front
    channels: tuple[int, ...] = (32, 64, 128)  # per stage; each stage halves the image
    reduction: int = 8  # SE / CBAM channel reduction ratio r
    nonlocal_heads: int = 1
    dropout: float = 0.0
    stn_lr_scale: float = 1.0  # learning-rate multiple of the spatial transformer
    stn_size: int = 0  # side of the spatial transformer's square output in pixels; 0 = the input's
    head: str = "avg"  # avg: global average pooling | flatten: the whole last map into the classifier

    def check(self) -> None:
        if self.stn_lr_scale <= 0 or (self.stn_lr_scale != 1.0 and not self.stn):
            raise ConfigError("model.stn_lr_scale must be > 0 and applies only with model.stn: true")
        if self.stn_size < 0 or (self.stn_size and not self.stn):
            raise ConfigError("model.stn_size must be >= 0 and applies only with model.stn: true")
        if self.head not in CNN_HEADS:
            raise ConfigError(f"model.head: unknown {self.head!r}; choose one of: {', '.join(CNN_HEADS)}")
        if self.attention not in CNN_ATTENTIONS:
            raise ConfigError(f"model.attention: unknown {self.attention!r} for arch cnn; choose one of: "
                              f"{', '.join(CNN_ATTENTIONS)}")
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ConfigError(f"model.channels must be a list of positive integers, got {list(self.channels)}")
        check_positive(self, "reduction", "nonlocal_heads", section="model")
        _check_dropout(self.dropout)
        if self.nonlocal_heads != 1 and self.attention != "nonlocal":
            raise ConfigError("model.nonlocal_heads does not apply to model.attention="
                              f"{self.attention} (only the non-local block has heads); remove it")
        if self.reduction != 8 and self.attention not in ("se", "cbam"):
            raise ConfigError(f"model.reduction does not apply to model.attention={self.attention} "
                              "(only SE and CBAM reduce channels); remove it")


class CNNFamily:
    """CNN classifiers with channel, spatial or pixel attention and an optional spatial transformer."""

    name = "cnn"
    config_class = CNNConfig
    spec_class = ImageSpec

    @classmethod
    def build(cls, cfg: CNNConfig, spec: ImageSpec) -> nn.Module:
        try:
            return AttentionCNN(spec.channels, spec.n_classes, (spec.height, spec.width), channels=cfg.channels,
                                attention=cfg.attention, stn=cfg.stn, reduction=cfg.reduction,
                                nonlocal_heads=cfg.nonlocal_heads, dropout=cfg.dropout, stn_lr_scale=cfg.stn_lr_scale,
                                stn_size=cfg.stn_size, head=cfg.head)
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None

    @classmethod
    def label(cls, cfg: CNNConfig) -> str:
        return ("stn+" if cfg.stn else "") + ("cnn" if cfg.attention == "none" else f"cnn+{cfg.attention}")


@dataclass(frozen=True)
class ViTConfig:
    """``model.arch: vit``: :class:`attnkit.models.VisionTransformer`."""

    arch: str = "vit"
    patch_size: int = 4  # pixels; must divide the image's height and width
    d_model: int = 64
    n_heads: int = 4
    layers: int = 4
    d_ff: int = 128
    dropout: float = 0.0

    def check(self) -> None:
        check_positive(self, "patch_size", "d_model", "n_heads", "layers", "d_ff", section="model")
        _check_dropout(self.dropout)
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")


class ViTFamily:
    """Vision Transformers over image patches, with attention rollout [Dosovitskiy21], [Abnar20]."""

    name = "vit"
    config_class = ViTConfig
    spec_class = ImageSpec

    @classmethod
    def build(cls, cfg: ViTConfig, spec: ImageSpec) -> nn.Module:
        if spec.height % cfg.patch_size or spec.width % cfg.patch_size:
            raise ConfigError(f"model.patch_size={cfg.patch_size} must divide the images' {spec.height} x "
                              f"{spec.width} pixels")
        return VisionTransformer(spec.channels, spec.n_classes, (spec.height, spec.width), patch_size=cfg.patch_size,
                                 d_model=cfg.d_model, n_heads=cfg.n_heads, layers=cfg.layers, d_ff=cfg.d_ff,
                                 dropout=cfg.dropout)

    @classmethod
    def label(cls, cfg: ViTConfig) -> str:
        return "vit"


@dataclass(frozen=True)
class GATConfig:
    """``model.arch: gat``: :class:`attnkit.models.gnn.GATClassifier` (defaults: [Velickovic18] Sec. 3.3)."""

    arch: str = "gat"
    version: str = "gat"  # gat | gatv2 [Brody22]
    hidden_dim: int = 8  # per head
    n_heads: int = 8
    out_heads: int = 1
    layers: int = 2
    dropout: float = 0.6

    def check(self) -> None:
        if self.version not in ("gat", "gatv2"):
            raise ConfigError(f"model.version: unknown {self.version!r}; choose one of: gat, gatv2")
        check_positive(self, "hidden_dim", "n_heads", "out_heads", "layers", section="model")
        _check_dropout(self.dropout)


@dataclass(frozen=True)
class GCNConfig:
    """``model.arch: gcn`` (and ``mlp``): the baselines of the graph attention comparison."""

    arch: str = "gcn"
    hidden_dim: int = 64
    layers: int = 2
    dropout: float = 0.5

    def check(self) -> None:
        check_positive(self, "hidden_dim", "layers", section="model")
        _check_dropout(self.dropout)


@dataclass(frozen=True)
class MLPConfig(GCNConfig):
    arch: str = "mlp"


class _NodeFamily:
    spec_class = NodeSpec
    model_class: type = GATClassifier

    @classmethod
    def build(cls, cfg: Any, spec: NodeSpec) -> nn.Module:
        options = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "arch"}
        return cls.model_class(spec.in_dim, spec.n_classes, **options)

    @classmethod
    def label(cls, cfg: Any) -> str:
        return getattr(cfg, "version", cfg.arch)


class GATFamily(_NodeFamily):
    """Graph attention networks (GAT, GATv2) for node classification."""

    name, config_class, model_class = "gat", GATConfig, GATClassifier


class GCNFamily(_NodeFamily):
    """Graph convolutional networks: degree-normalised neighbourhood averages [Kipf17]."""

    name, config_class, model_class = "gcn", GCNConfig, GCNClassifier


class MLPFamily(_NodeFamily):
    """A feature-only MLP: the graph's edges unused (the baseline every graph model must beat)."""

    name, config_class, model_class = "mlp", MLPConfig, MLPClassifier


@dataclass(frozen=True)
class CaptionConfig:
    """``model.arch: show-attend-tell``: :class:`attnkit.models.captioner.ShowAttendTell`."""

    arch: str = "show-attend-tell"
    attention: str = "soft"  # soft | hard (REINFORCE) | none (the mean annotation as a fixed context)
    channels: tuple[int, ...] = (32, 64, 128)  # encoder stages; the last is the annotation width D
    pools: tuple[int, ...] = (2, 2, 3)  # max-pool factor per stage: 84 x 84 -> a 7 x 7 grid
    emb_dim: int = 64
    hidden_dim: int = 128
    attn_dim: int = 64
    gate: bool = True  # the gating scalar beta [Xu15] Sec. 4.2.1
    penalty: float = 1.0  # lambda of the doubly stochastic penalty [Xu15] Eq. 14 (soft only)
    expected_context: float = 0.0  # hard only: P(a caption trains on the expected context) [Xu15] Sec. 4.1 (0.5)
    dropout: float = 0.0

    def check(self) -> None:
        if self.attention not in CAPTION_ATTENTIONS:
            raise ConfigError(f"model.attention: unknown {self.attention!r} for arch show-attend-tell; choose "
                              f"one of: {', '.join(CAPTION_ATTENTIONS)}")
        if not self.channels or len(self.channels) != len(self.pools) or min(*self.channels, *self.pools) < 1:
            raise ConfigError(f"model.channels and model.pools need one positive integer per stage, got "
                              f"{list(self.channels)} and {list(self.pools)}")
        check_positive(self, "emb_dim", "hidden_dim", "attn_dim", section="model")
        _check_dropout(self.dropout)
        if self.penalty < 0:
            raise ConfigError(f"model.penalty must be >= 0, got {self.penalty}")
        if not 0.0 <= self.expected_context <= 1.0:
            raise ConfigError(f"model.expected_context is a probability in [0, 1], got {self.expected_context}")
        for name in sorted(_set_fields(self) & self.ignored_fields()):
            raise ConfigError(f"model.{name} does not apply to model.attention={self.attention} "
                              f"({_CAPTION_IGNORED_WHY[name]}); remove it")

    def ignored_fields(self) -> set[str]:
        """Options the chosen attention does not use (setting one is an error)."""
        return {"soft": {"expected_context"}, "hard": {"penalty"},
                "none": {"attn_dim", "gate", "penalty", "expected_context"}}[self.attention]


_CAPTION_IGNORED_WHY = {"penalty": "the doubly stochastic penalty constrains soft attention weights",
                        "expected_context": "it replaces hard attention's sampled location by the expected one",
                        "attn_dim": "there is no attention score", "gate": "there is no attended context to gate"}


class CaptionFamily:
    """Show, Attend and Tell: CNN annotations and an LSTM decoder with soft, hard or no attention [Xu15]."""

    name = "show-attend-tell"
    config_class = CaptionConfig
    spec_class = CaptionSpec

    @classmethod
    def build(cls, cfg: CaptionConfig, spec: CaptionSpec) -> nn.Module:
        if spec.height % math.prod(cfg.pools) or spec.width % math.prod(cfg.pools):
            raise ConfigError(f"model.pools {list(cfg.pools)} must multiply to a divisor of the images' "
                              f"{spec.height} x {spec.width} pixels")
        used = cfg.attention != "none"
        return ShowAttendTell(spec.vocab_size, spec.channels, attention=cfg.attention, channels=cfg.channels,
                              pools=cfg.pools, emb_dim=cfg.emb_dim, hidden_dim=cfg.hidden_dim, attn_dim=cfg.attn_dim,
                              gate=cfg.gate and used, dropout=cfg.dropout,
                              penalty=cfg.penalty if cfg.attention == "soft" else 0.0,
                              expected_context=cfg.expected_context if cfg.attention == "hard" else 0.0,
                              pad_id=spec.pad_id)

    @classmethod
    def label(cls, cfg: CaptionConfig) -> str:
        return f"sat-{cfg.attention}"


FAMILIES: Registry[type] = Registry("model family")
FAMILIES.register("rnn", RNNFamily, "RNN encoder-decoder; pick its attention with model.attention",
                  "[Cho14], [Bahdanau15], [Luong15]")
FAMILIES.register("transformer", TransformerFamily,
                  "Transformer encoder-decoder (pre/post-LN, GQA, RoPE/ALiBi, KV cache)", "[Vaswani17]")
FAMILIES.register("han", HANFamily, "Hierarchical Attention Network: word and sentence attention pooling",
                  "[Yang16]")
FAMILIES.register("cnn", CNNFamily, "CNN classifier; its blocks' attention by model.attention (none, se, eca, "
                  "cbam, nonlocal), model.stn for a spatial transformer", "[Hu18], [Wang20], [Woo18], [Wang18], "
                  "[Jaderberg15]")
FAMILIES.register("vit", ViTFamily, "Vision Transformer over image patches, attention rollout",
                  "[Dosovitskiy21], [Abnar20]")
FAMILIES.register("gat", GATFamily, "graph attention network for node classification (model.version gat or "
                  "gatv2)", "[Velickovic18], [Brody22]")
FAMILIES.register("gcn", GCNFamily, "graph convolutional network (a baseline without attention)", "[Kipf17]")
FAMILIES.register("mlp", MLPFamily, "node features only, no edges (a baseline)", "")
FAMILIES.register("show-attend-tell", CaptionFamily, "image captioner: CNN annotation grid, LSTM decoder with "
                  "soft, hard (REINFORCE) or no attention, gate beta, doubly stochastic penalty", "[Xu15]")
