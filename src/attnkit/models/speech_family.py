"""The ``speech-encoder`` model family: :class:`~attnkit.models.speech.SpeechClassifier`, self-attention
encoders over speech frames with attention pooling, for :class:`~attnkit.models.specs.SpeechSpec`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .family import FAMILIES
from .specs import ModelSpec, SpeechSpec
from .speech import SpeechClassifier

__all__ = ["SpeechEncoderConfig", "SpeechEncoderFamily"]


@dataclass(frozen=True)
class SpeechEncoderConfig:
    """``model.arch: speech-encoder``: :class:`SpeechClassifier`."""

    arch: str = "speech-encoder"
    d_model: int = 96
    n_heads: int = 4
    layers: int = 2
    d_ff: int = 192
    channels: int = 32
    dropout: float = 0.1

    def check(self) -> None:
        check_positive(self, "d_model", "n_heads", "layers", "d_ff", "channels", section="model")
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must lie in [0, 1), got {self.dropout}")


class SpeechEncoderFamily:
    """Self-attention encoders over speech frames with attention pooling [Dong18], [Yang16]."""

    name = "speech-encoder"
    config_class = SpeechEncoderConfig
    spec_class = SpeechSpec

    @classmethod
    def build(cls, cfg: SpeechEncoderConfig, spec: SpeechSpec) -> nn.Module:
        try:
            return SpeechClassifier(
                spec.n_mels,
                spec.n_classes,
                d_model=cfg.d_model,
                n_heads=cfg.n_heads,
                layers=cfg.layers,
                d_ff=cfg.d_ff,
                dropout=cfg.dropout,
                channels=cfg.channels,
            )
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None

    @classmethod
    def label(cls, cfg: SpeechEncoderConfig) -> str:
        return "speech-encoder"

    @classmethod
    def capabilities(cls, cfg: SpeechEncoderConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Every layer's self-attention and the pooling weights; a classifier, no decoding."""
        return ModelCapabilities(n_heads=cfg.n_heads)


FAMILIES.register(
    "speech-encoder",
    SpeechEncoderFamily,
    "speech frames: conv subsampling, self-attention encoder, attention pooling",
    "[Dong18], [Yang16]",
)
