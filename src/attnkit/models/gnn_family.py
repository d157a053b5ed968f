"""The node classification families ``gat`` (graph attention, GAT and GATv2), ``gcn`` and ``mlp``
(the baselines without attention) for :class:`~attnkit.models.specs.NodeSpec`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .family import FAMILIES, check_dropout
from .gnn import GATClassifier, GCNClassifier, MLPClassifier
from .specs import ModelSpec, NodeSpec

__all__ = ["GATConfig", "GCNConfig", "MLPConfig", "GATFamily", "GCNFamily", "MLPFamily"]


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
        check_dropout(self.dropout)


@dataclass(frozen=True)
class GCNConfig:
    """``model.arch: gcn`` (and ``mlp``): the baselines of the graph attention comparison."""

    arch: str = "gcn"
    hidden_dim: int = 64
    layers: int = 2
    dropout: float = 0.5

    def check(self) -> None:
        check_positive(self, "hidden_dim", "layers", section="model")
        check_dropout(self.dropout)


@dataclass(frozen=True)
class MLPConfig(GCNConfig):
    arch: str = "mlp"


class _NodeFamily:
    spec_class = NodeSpec
    model_class: type = GATClassifier
    attends: ClassVar[bool] = True  # the model weights neighbours by attention

    @classmethod
    def build(cls, cfg: Any, spec: NodeSpec) -> nn.Module:
        options = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "arch"}
        return cls.model_class(spec.in_dim, spec.n_classes, **options)

    @classmethod
    def label(cls, cfg: Any) -> str:
        return getattr(cfg, "version", cfg.arch)

    @classmethod
    def capabilities(cls, cfg: Any, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Per-edge attention weights for GAT (``n_heads`` heads); none for the GCN and MLP baselines."""
        return ModelCapabilities(attention=cls.attends, n_heads=getattr(cfg, "n_heads", 1))


class GATFamily(_NodeFamily):
    """Graph attention networks (GAT, GATv2) for node classification."""

    name, config_class, model_class = "gat", GATConfig, GATClassifier


class GCNFamily(_NodeFamily):
    """Graph convolutional networks: degree-normalised neighbourhood averages [Kipf17]."""

    name, config_class, model_class = "gcn", GCNConfig, GCNClassifier
    attends = False


class MLPFamily(_NodeFamily):
    """A feature-only MLP: the graph's edges unused (the baseline every graph model must beat)."""

    name, config_class, model_class = "mlp", MLPConfig, MLPClassifier
    attends = False


FAMILIES.register(
    "gat",
    GATFamily,
    "graph attention network for node classification (model.version gat or gatv2)",
    "[Velickovic18], [Brody22]",
)
FAMILIES.register("gcn", GCNFamily, "graph convolutional network (a baseline without attention)", "[Kipf17]")
FAMILIES.register("mlp", MLPFamily, "node features only, no edges (a baseline)", "")
