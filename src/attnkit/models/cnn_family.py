"""The ``cnn`` model family: :class:`~attnkit.models.cnn_classifier.AttentionCNN`, image classifiers
with channel, spatial or pixel attention and an optional spatial transformer
(:class:`~attnkit.models.specs.ImageSpec`)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .cnn_classifier import CNN_ATTENTIONS, CNN_HEADS, AttentionCNN
from .family import FAMILIES, check_dropout
from .specs import ImageSpec, ModelSpec

__all__ = ["CNNConfig", "CNNFamily"]


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
            raise ConfigError(
                f"model.attention: unknown {self.attention!r} for arch cnn; choose one of: {', '.join(CNN_ATTENTIONS)}"
            )
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ConfigError(f"model.channels must be a list of positive integers, got {list(self.channels)}")
        check_positive(self, "reduction", "nonlocal_heads", section="model")
        check_dropout(self.dropout)
        if self.nonlocal_heads != 1 and self.attention != "nonlocal":
            raise ConfigError(
                "model.nonlocal_heads does not apply to model.attention="
                f"{self.attention} (only the non-local block has heads); remove it"
            )
        if self.reduction != 8 and self.attention not in ("se", "cbam"):
            raise ConfigError(
                f"model.reduction does not apply to model.attention={self.attention} "
                "(only SE and CBAM reduce channels); remove it"
            )


class CNNFamily:
    """CNN classifiers with channel, spatial or pixel attention and an optional spatial transformer."""

    name = "cnn"
    config_class = CNNConfig
    spec_class = ImageSpec

    @classmethod
    def build(cls, cfg: CNNConfig, spec: ImageSpec) -> nn.Module:
        try:
            return AttentionCNN(
                spec.channels,
                spec.n_classes,
                (spec.height, spec.width),
                channels=cfg.channels,
                attention=cfg.attention,
                stn=cfg.stn,
                reduction=cfg.reduction,
                nonlocal_heads=cfg.nonlocal_heads,
                dropout=cfg.dropout,
                stn_lr_scale=cfg.stn_lr_scale,
                stn_size=cfg.stn_size,
                head=cfg.head,
            )
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None

    @classmethod
    def label(cls, cfg: CNNConfig) -> str:
        return ("stn+" if cfg.stn else "") + ("cnn" if cfg.attention == "none" else f"cnn+{cfg.attention}")

    @classmethod
    def capabilities(cls, cfg: CNNConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Attention unless ``attention="none"``; the part ``"stn"`` with a spatial transformer."""
        return ModelCapabilities(attention=cfg.attention != "none", parts=("stn",) if cfg.stn else ())


FAMILIES.register(
    "cnn",
    CNNFamily,
    "CNN classifier; its blocks' attention by model.attention (none, se, eca, "
    "cbam, nonlocal), model.stn for a spatial transformer",
    "[Hu18], [Wang20], [Woo18], [Wang18], [Jaderberg15]",
)
