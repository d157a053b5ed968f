"""The ``whisper`` model family: :class:`~attnkit.models.whisper.WhisperSeq2Seq`, the speech
encoder-decoder of imported Whisper checkpoints (``attnkit import-hf``), built for a
:class:`~attnkit.models.specs.SpeechSeq2SeqSpec` whose target vocabulary is the model's."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .family import FAMILIES, check_dropout
from .specs import ModelSpec, SpeechSeq2SeqSpec
from .whisper import WhisperSeq2Seq

__all__ = ["WhisperConfig", "WhisperFamily"]


@dataclass(frozen=True)
class WhisperConfig:
    """``model.arch: whisper``: the sizes of :class:`~attnkit.models.whisper.WhisperSeq2Seq`
    (Hugging Face's ``WhisperConfig`` names in brackets).

    Attributes:
        vocab_size: output tokens V (``vocab_size``).
        n_mels: mel filters per frame (``num_mel_bins``).
        d_model: width (``d_model``).
        encoder_layers, decoder_layers: blocks (``encoder_layers``, ``decoder_layers``).
        encoder_heads, decoder_heads: heads (``encoder_attention_heads``, ``decoder_attention_heads``).
        encoder_ffn, decoder_ffn: FFN widths (``encoder_ffn_dim``, ``decoder_ffn_dim``).
        max_source_positions: encoder positions (1500: 30 s of 10 ms frames, halved).
        max_target_positions: decoder positions.
        dropout: dropout (training only).
        scale_embedding: token embeddings times sqrt(d_model).
        suppress_tokens: model ids never written (``suppress_tokens``).
        begin_suppress_tokens: model ids not written first (``begin_suppress_tokens``).
        first_position: decoder position of the first token after the prompt.
    """

    arch: str = "whisper"
    vocab_size: int = 51865
    n_mels: int = 80
    d_model: int = 384
    encoder_layers: int = 4
    decoder_layers: int = 4
    encoder_heads: int = 6
    decoder_heads: int = 6
    encoder_ffn: int = 1536
    decoder_ffn: int = 1536
    max_source_positions: int = 1500
    max_target_positions: int = 448
    dropout: float = 0.0
    scale_embedding: bool = False
    suppress_tokens: tuple[int, ...] = ()
    begin_suppress_tokens: tuple[int, ...] = ()
    first_position: int = 1

    @property
    def n_heads(self) -> int:
        """Heads of the attention the decoded weights come from (the decoder's)."""
        return self.decoder_heads

    def check(self) -> None:
        check_positive(
            self,
            "vocab_size",
            "n_mels",
            "d_model",
            "encoder_layers",
            "decoder_layers",
            "encoder_heads",
            "decoder_heads",
            "encoder_ffn",
            "decoder_ffn",
            "max_source_positions",
            "max_target_positions",
            section="model",
        )
        check_dropout(self.dropout)
        for name in ("encoder_heads", "decoder_heads"):
            if self.d_model % getattr(self, name):
                raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.{name}")
        bad = [t for t in self.suppress_tokens + self.begin_suppress_tokens if not 0 <= t < self.vocab_size]
        if bad:
            raise ConfigError(f"model: suppressed token {bad[0]} is outside the {self.vocab_size}-token vocabulary")
        if self.first_position < 1 or self.first_position >= self.max_target_positions:
            raise ConfigError(
                f"model.first_position={self.first_position} must lie in [1, {self.max_target_positions})"
            )
        if self.d_model % 2:
            raise ConfigError(f"model.d_model={self.d_model} must be even (the sinusoidal positions)")


class WhisperFamily:
    """Whisper's speech encoder-decoder [Radford22]; decodes step by step, per-head cross-attention."""

    name = "whisper"
    config_class = WhisperConfig
    spec_class = SpeechSeq2SeqSpec

    @classmethod
    def build(cls, cfg: WhisperConfig, spec: SpeechSeq2SeqSpec) -> nn.Module:
        """The model of `cfg`.

        Raises:
            attnkit.errors.ConfigError: if the task's vocabulary or frame width differs from the
                model's.
        """
        if spec.tgt_vocab_size != cfg.vocab_size or spec.n_mels != cfg.n_mels:
            raise ConfigError(
                f"model.vocab_size={cfg.vocab_size} and model.n_mels={cfg.n_mels} must match the task's "
                f"{spec.tgt_vocab_size} tokens and {spec.n_mels} mel filters; re-import the checkpoint"
            )
        return WhisperSeq2Seq(
            cfg.vocab_size,
            n_mels=cfg.n_mels,
            d_model=cfg.d_model,
            encoder_layers=cfg.encoder_layers,
            decoder_layers=cfg.decoder_layers,
            encoder_heads=cfg.encoder_heads,
            decoder_heads=cfg.decoder_heads,
            encoder_ffn=cfg.encoder_ffn,
            decoder_ffn=cfg.decoder_ffn,
            max_source_positions=cfg.max_source_positions,
            max_target_positions=cfg.max_target_positions,
            dropout=cfg.dropout,
            scale_embedding=cfg.scale_embedding,
            suppress_tokens=cfg.suppress_tokens,
            begin_suppress_tokens=cfg.begin_suppress_tokens,
            first_position=cfg.first_position,
        )

    @classmethod
    def label(cls, cfg: WhisperConfig) -> str:
        return "whisper"

    @classmethod
    def capabilities(cls, cfg: WhisperConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Decodes step by step; the last decoder layer's cross-attention per head. Every layer's
        maps need the decoder prompt, which the task holds: not declared as ``layer_maps``."""
        return ModelCapabilities(decodes=True, n_heads=cfg.n_heads)


FAMILIES.register("whisper", WhisperFamily, "Whisper speech encoder-decoder (imported checkpoints)", "[Radford22]")
