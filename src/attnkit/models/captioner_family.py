"""The ``show-attend-tell`` model family: :class:`~attnkit.models.captioner.ShowAttendTell`, image
captioners with soft, hard (REINFORCE) or no attention (:class:`~attnkit.models.specs.CaptionSpec`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .captioner import CAPTION_ATTENTIONS, ShowAttendTell
from .family import FAMILIES, check_dropout, set_fields
from .reinforce import REINFORCE_OPTIONS, check_reinforce_options
from .specs import CaptionSpec, ModelSpec

__all__ = ["CaptionConfig", "CaptionFamily"]


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
    reinforce_weight: float = 1.0  # hard only: lambda_r of the REINFORCE loss [Xu15] Sec. 4.1
    entropy_weight: float = 0.01  # hard only: lambda_e, the entropy bonus
    baseline_decay: float = 0.9  # hard only: moving-average decay of the reward baseline
    dropout: float = 0.0

    def check(self) -> None:
        if self.attention not in CAPTION_ATTENTIONS:
            raise ConfigError(
                f"model.attention: unknown {self.attention!r} for arch show-attend-tell; choose "
                f"one of: {', '.join(CAPTION_ATTENTIONS)}"
            )
        if not self.channels or len(self.channels) != len(self.pools) or min(*self.channels, *self.pools) < 1:
            raise ConfigError(
                f"model.channels and model.pools need one positive integer per stage, got "
                f"{list(self.channels)} and {list(self.pools)}"
            )
        check_positive(self, "emb_dim", "hidden_dim", "attn_dim", section="model")
        check_dropout(self.dropout)
        if self.penalty < 0:
            raise ConfigError(f"model.penalty must be >= 0, got {self.penalty}")
        check_reinforce_options(self)
        if not 0.0 <= self.expected_context <= 1.0:
            raise ConfigError(f"model.expected_context is a probability in [0, 1], got {self.expected_context}")
        for name in sorted(set_fields(self) & self.ignored_fields()):
            raise ConfigError(
                f"model.{name} does not apply to model.attention={self.attention} "
                f"({_CAPTION_IGNORED_WHY[name]}); remove it"
            )

    def ignored_fields(self) -> set[str]:
        """Options the chosen attention does not use (setting one is an error)."""
        return {
            "soft": {"expected_context", *REINFORCE_OPTIONS},
            "hard": {"penalty"},
            "none": {"attn_dim", "gate", "penalty", "expected_context", *REINFORCE_OPTIONS},
        }[self.attention]


_CAPTION_IGNORED_WHY = {
    "penalty": "the doubly stochastic penalty constrains soft attention weights",
    "expected_context": "it replaces hard attention's sampled location by the expected one",
    "attn_dim": "there is no attention score",
    "gate": "there is no attended context to gate",
    **{name: "only hard attention samples locations trained with REINFORCE" for name in REINFORCE_OPTIONS},
}


class CaptionFamily:
    """Show, Attend and Tell: CNN annotations and an LSTM decoder with soft, hard or no attention [Xu15]."""

    name = "show-attend-tell"
    config_class = CaptionConfig
    spec_class = CaptionSpec

    @classmethod
    def build(cls, cfg: CaptionConfig, spec: CaptionSpec) -> nn.Module:
        if spec.height % math.prod(cfg.pools) or spec.width % math.prod(cfg.pools):
            raise ConfigError(
                f"model.pools {list(cfg.pools)} must multiply to a divisor of the images' "
                f"{spec.height} x {spec.width} pixels"
            )
        used = cfg.attention != "none"
        return ShowAttendTell(
            spec.vocab_size,
            spec.channels,
            attention=cfg.attention,
            channels=cfg.channels,
            pools=cfg.pools,
            emb_dim=cfg.emb_dim,
            hidden_dim=cfg.hidden_dim,
            attn_dim=cfg.attn_dim,
            gate=cfg.gate and used,
            dropout=cfg.dropout,
            penalty=cfg.penalty if cfg.attention == "soft" else 0.0,
            expected_context=cfg.expected_context if cfg.attention == "hard" else 0.0,
            pad_id=spec.pad_id,
            **({name: getattr(cfg, name) for name in REINFORCE_OPTIONS} if cfg.attention == "hard" else {}),
        )

    @classmethod
    def label(cls, cfg: CaptionConfig) -> str:
        return f"sat-{cfg.attention}"

    @classmethod
    def capabilities(cls, cfg: CaptionConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Step-by-step decoding (greedy and beam search); attention unless ``attention="none"``."""
        return ModelCapabilities(decodes=True, attention=cfg.attention != "none")


FAMILIES.register(
    "show-attend-tell",
    CaptionFamily,
    "image captioner: CNN annotation grid, LSTM decoder with "
    "soft, hard (REINFORCE) or no attention, gate beta, doubly stochastic penalty",
    "[Xu15]",
)
