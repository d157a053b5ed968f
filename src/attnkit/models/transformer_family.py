"""The ``transformer`` model family: :class:`~attnkit.models.TransformerSeq2Seq` for token
sources, :class:`~attnkit.models.speech_seq2seq.SpeechTransformer` for speech frames
(:class:`~attnkit.models.specs.SpeechSeq2SeqSpec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .attention_kernels import check_attention_keys, kernel_settings
from .family import FAMILIES, check_dropout
from .specs import ModelSpec, Seq2SeqSpec, SpeechSeq2SeqSpec
from .speech_seq2seq import SpeechTransformer
from .transformer import ACTIVATIONS, TransformerSeq2Seq

__all__ = ["TransformerConfig", "TransformerFamily"]


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
    # options the pretrained architectures need (Marian); the defaults are the paper's model
    activation: str = "relu"  # feed-forward activation: relu, gelu, gelu_tanh, silu (Marian's swish)
    scale_embeddings: bool = True  # token embeddings times sqrt(d_model)
    share_embeddings: bool = False  # one table for source and target (needs one vocabulary)
    suppress_pad: bool = False  # never generate <pad> (its log-probability -inf after the softmax, as HF's Marian)
    # efficient encoder self-attention (attnkit.models.attention_kernels; the decoder stays dense):
    # a kernel name and its options, 0 = not set
    attention_kernel: str = "dense"  # dense | window | linear | flex | ... (attnkit.functional.ATTENTION_KERNELS)
    attention_window: int = 0  # window, flex: half-width in tokens (keys within that distance)
    attention_global_tokens: int = 0  # window, flex: the first G positions attend and are attended everywhere
    attention_chunk_size: int = 0  # linear: chunk length of the causal form
    attention_num_features: int = 0  # performer: random features per head
    attention_num_landmarks: int = 0  # nystrom: landmarks per head

    def check(self) -> None:
        """Raises ConfigError for sizes that do not fit together or unknown names."""
        from ..nn.positional import POSITIONAL

        check_positive(self, "d_model", "n_heads", "enc_layers", "dec_layers", "d_ff", section="model")
        check_dropout(self.dropout)
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")
        if self.num_kv_heads < 0 or (self.num_kv_heads and self.n_heads % self.num_kv_heads):
            raise ConfigError(
                f"model.num_kv_heads={self.num_kv_heads} must divide model.n_heads={self.n_heads} "
                "(0 = one key/value head per query head)"
            )
        if (self.d_model // self.n_heads) % 2 and self.positional == "rope":
            raise ConfigError("model.positional=rope needs an even head width d_model / n_heads")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"model.activation: unknown {self.activation!r}; choose one of: {', '.join(ACTIVATIONS)}")
        if self.norm not in ("pre", "post"):
            raise ConfigError(f"model.norm: unknown {self.norm!r}; choose one of: pre, post")
        if self.positional not in POSITIONAL:
            raise ConfigError(
                f"model.positional: unknown {self.positional!r}; choose one of: {', '.join(POSITIONAL.names())}"
            )
        check_attention_keys(self, positional=self.positional)


class TransformerFamily:
    """Transformer encoder-decoders (pre/post-LN, GQA, RoPE/ALiBi/sinusoidal, KV cache) [Vaswani17]."""

    name = "transformer"
    config_class = TransformerConfig
    spec_class = Seq2SeqSpec

    @classmethod
    def build(cls, cfg: TransformerConfig, spec: Seq2SeqSpec) -> nn.Module:
        speech = isinstance(spec, SpeechSeq2SeqSpec)  # frames in: convolutional subsampling as the source embedding
        if cfg.share_embeddings and (speech or spec.src_vocab_size != spec.tgt_vocab_size):
            raise ConfigError("model.share_embeddings needs one vocabulary for source and target tokens; set it false")
        if speech and cfg.attention_kernel != "dense":
            raise ConfigError("model.attention_kernel applies to token sources only; set it to dense for speech")
        kernel_args: dict[str, Any] = {}  # the encoder's kernel: token sources only
        if not speech:
            kernel, options = kernel_settings(cfg)
            kernel_args = {"attention_kernel": kernel, "kernel_options": options}
        source = spec.n_mels if isinstance(spec, SpeechSeq2SeqSpec) else spec.src_vocab_size
        return (SpeechTransformer if speech else TransformerSeq2Seq)(
            source,
            spec.tgt_vocab_size,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            num_kv_heads=cfg.num_kv_heads or None,
            enc_layers=cfg.enc_layers,
            dec_layers=cfg.dec_layers,
            d_ff=cfg.d_ff,
            dropout=cfg.dropout,
            norm_first=cfg.norm == "pre",
            positional=cfg.positional,
            tie_embeddings=cfg.tie_embeddings,
            max_len=spec.max_len,
            pad_id=spec.pad_id,
            activation=cfg.activation,
            scale_embeddings=cfg.scale_embeddings,
            share_embeddings=cfg.share_embeddings,
            suppress_pad=cfg.suppress_pad,
            **kernel_args,
        )

    @classmethod
    def label(cls, cfg: TransformerConfig) -> str:
        return "transformer"

    @classmethod
    def capabilities(cls, cfg: TransformerConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Step-by-step decoding; every layer's and head's maps and the explanations beyond raw
        attention for text (not over speech frames)."""
        text = not isinstance(spec, SpeechSeq2SeqSpec)
        return ModelCapabilities(
            decodes=True, layer_maps=text, n_heads=cfg.n_heads, explains=text, attention_kernel=cfg.attention_kernel
        )


FAMILIES.register(
    "transformer",
    TransformerFamily,
    "Transformer encoder-decoder (pre/post-LN, GQA, RoPE/ALiBi, KV cache)",
    "[Vaswani17]",
)
