"""The ``han`` model family: :class:`~attnkit.models.HierarchicalAttentionNetwork` for document
classification (:class:`~attnkit.models.specs.DocumentSpec`)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..capabilities import ModelCapabilities
from ..schema import check_positive
from .family import FAMILIES, check_dropout
from .han import HierarchicalAttentionNetwork
from .specs import DocumentSpec, ModelSpec

__all__ = ["HANConfig", "HANFamily"]


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
        check_dropout(self.dropout)


class HANFamily:
    """Hierarchical Attention Networks for document classification [Yang16]."""

    name = "han"
    config_class = HANConfig
    spec_class = DocumentSpec

    @classmethod
    def build(cls, cfg: HANConfig, spec: DocumentSpec) -> nn.Module:
        return HierarchicalAttentionNetwork(
            spec.vocab_size,
            spec.n_classes,
            emb_dim=cfg.emb_dim,
            hidden_dim=cfg.hidden_dim,
            attn_dim=cfg.attn_dim,
            dropout=cfg.dropout,
            pad_id=spec.pad_id,
        )

    @classmethod
    def label(cls, cfg: HANConfig) -> str:
        return "han"

    @classmethod
    def capabilities(cls, cfg: HANConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Word and sentence attention pooling; a classifier, no decoding."""
        return ModelCapabilities()


FAMILIES.register("han", HANFamily, "Hierarchical Attention Network: word and sentence attention pooling", "[Yang16]")
