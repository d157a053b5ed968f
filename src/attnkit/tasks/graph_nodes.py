"""Node classification on one graph: the Debian package graph (``debian-packages``: a package's
archive section from its description and its dependencies) and Zachary's karate club
(``karate-club``: a member's faction, for tests and the docs).

Data. ``debian-packages`` builds the graph from this machine's apt lists
(:func:`attnkit.data.debian_graph.load_debian_graph`: packages as nodes, Depends / Pre-Depends as
undirected edges, sections as labels, TF-IDF + SVD of the descriptions as features) and
writes it into the run folder (``graph.safetensors``, with the sha256 of the lists and of the
arrays), so a run stays reproducible when the lists change. The node split is seeded and
stratified by section (:func:`attnkit.data.node_graph.split_nodes`), ``data/splits.json``.

Training is transductive and full-graph, as in [Velickovic18] Sec. 3.3: every step runs the
model over the whole graph and takes the loss on a batch of training nodes (``train.batch_size``
nodes; set it to the number of training nodes for one full-batch step per epoch). Items are node
indices; a batch carries the whole graph by reference (no copy) and the indices.

References:
    [Velickovic18] P. Veličković et al. Graph Attention Networks. ICLR 2018. arXiv:1710.10903.
    [Zachary77] W. W. Zachary. An Information Flow Model for Conflict and Fission in Small
    Groups. Journal of Anthropological Research 33(4), 1977.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import debian_graph
from ..data.node_graph import NodeGraph, karate_club, load_graph, save_graph, split_nodes
from ..errors import ConfigError, InputError, did_you_mean
from ..evaluation import classification_metrics
from ..io import atomic_write_text
from ..models.specs import NodeSpec
from ..predictions import GRAPH_NEIGHBOURHOOD
from .base import LossContext, PrimaryMetric
from .classification import ClassLabel, check_split_fractions, classification_report

__all__ = ["DebianGraphConfig", "KarateConfig", "NodeBatch", "NodePrediction", "DebianPackagesTask", "KarateClubTask"]


@dataclass(frozen=True)
class DebianGraphConfig:
    """``data.task: debian-packages``.

    Attributes:
        lists_dir: folder of the apt lists; "" = ``$ATTNKIT_APT_LISTS`` or /var/lib/apt/lists.
        min_df: a word needs this many package descriptions to be a TF-IDF feature.
        max_features: at most this many TF-IDF words.
        dim: features after truncated SVD.
        seed: seed of the SVD and the split.
        dev_fraction, test_fraction: shares of each section's nodes in dev and test.
    """

    task: str = "debian-packages"
    lists_dir: str = ""
    min_df: int = 2
    max_features: int = 20000
    dim: int = 128
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1

    def check(self) -> None:
        check_split_fractions(self)
        if min(self.min_df, self.max_features, self.dim) < 1:
            raise ConfigError("data.min_df, data.max_features and data.dim must be >= 1")


@dataclass(frozen=True)
class KarateConfig:
    """``data.task: karate-club``: 34 members, 78 friendships, two factions; one-hot features."""

    task: str = "karate-club"
    seed: int = 1234
    dev_fraction: float = 0.2
    test_fraction: float = 0.2

    def check(self) -> None:
        check_split_fractions(self)


class NodeBatch(NamedTuple):
    features: Tensor  # (N, F), the whole graph's
    edge_index: Tensor  # (2, E)
    nodes: Tensor  # (B,) the batch's node indices
    labels: Tensor  # (B,)


@dataclass
class NodePrediction:
    """The predicted class of one node, with the attention over its neighbourhood.

    Attributes:
        output: the predicted class's name.
        probability: its probability, in [0, 1].
        node: the node's name.
        neighbours: names of the nodes with an edge into it (itself included with self-loops).
        edge_weights: per layer, the weights of those edges, (K, Nh) (empty without attention).
        neighbour_classes: each neighbour's gold class name ("?" for an unlabelled node).
        probabilities: every class's probability, (C,) in the order of the task's classes.
    """

    kind: ClassVar[str] = GRAPH_NEIGHBOURHOOD

    output: str
    probability: float
    node: str
    neighbours: list[str]
    edge_weights: list[Tensor]
    neighbour_classes: list[str]
    probabilities: list[float] = field(default_factory=list)


@dataclass
class DebianPackagesTask:
    """Node classification as a task plug-in (:class:`attnkit.tasks.base.Task`); families ``gat``,
    ``gcn``, ``mlp``. Primary metric: accuracy; macro-F1 (the classes are imbalanced) breaks ties."""

    config: Any
    graph: NodeGraph

    name = "debian-packages"
    config_class: ClassVar[type] = DebianGraphConfig  # a subclass reads its own (KarateClubTask)
    default_family = "gat"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "nodes"
    spec_class = NodeSpec

    @property
    def capabilities(self) -> TaskCapabilities:
        """A node's name in, its class out."""
        return TaskCapabilities(InputKind.TEXT, classes=tuple(self.classes))

    def __post_init__(self) -> None:
        self.features = torch.from_numpy(self.graph.features)
        self.edge_index = torch.from_numpy(self.graph.edge_index)
        self.labels = torch.from_numpy(self.graph.labels)
        self.index = {name: i for i, name in enumerate(self.graph.names)}

    @property
    def spec(self) -> NodeSpec:
        return NodeSpec(self.graph.features.shape[1], len(self.graph.classes))

    @property
    def classes(self) -> list[str]:
        return list(self.graph.classes)

    @classmethod
    def _graph(cls, cfg: Any) -> NodeGraph:
        """The graph of `cfg`, an instance of ``cls.config_class`` (here a DebianGraphConfig)."""
        try:
            return debian_graph.load_debian_graph(
                cfg.lists_dir or None, min_df=cfg.min_df, max_features=cfg.max_features, dim=cfg.dim, seed=cfg.seed
            )
        except InputError as err:
            raise ConfigError(str(err)) from None

    @classmethod
    def build(cls, cfg: Any, run_dir: str | Path) -> tuple["DebianPackagesTask", dict[str, list[int]]]:
        """Build the graph and the split; write ``graph.safetensors`` and ``data/splits.json``.

        Raises:
            attnkit.errors.ConfigError: if the source is missing (the message says how to get it).
        """
        graph = cls._graph(cfg)
        splits = split_nodes(graph.labels, cfg.seed, cfg.dev_fraction, cfg.test_fraction)
        run_dir = Path(run_dir)
        save_graph(run_dir / "graph.safetensors", graph)
        out = {name: [int(i) for i in getattr(splits, name)] for name in ("train", "dev", "test")}
        atomic_write_text(run_dir / "data" / "splits.json", json.dumps({"config": asdict(cfg), **out}))
        return cls(cfg, graph), out

    @classmethod
    def load(cls, cfg: Any, run_dir: str | Path) -> "DebianPackagesTask":
        return cls(cfg, load_graph(Path(run_dir) / "graph.safetensors"))

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[int]:
        return json.loads((Path(run_dir) / "data" / "splits.json").read_text(encoding="utf-8"))[split]

    # --- training ------------------------------------------------------------------------------
    @staticmethod
    def encode(examples: Sequence[int]) -> list[int]:
        return list(examples)

    @staticmethod
    def lengths(item: int) -> tuple[int, int]:
        return 1, 1

    @staticmethod
    def loss_weight(item: int) -> int:
        return 1

    def collate(self, items: Sequence[int]) -> NodeBatch:
        nodes = torch.tensor(list(items), dtype=torch.long)
        return NodeBatch(self.features, self.edge_index, nodes, self.labels[nodes])

    @staticmethod
    def loss(model: nn.Module, batch: NodeBatch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy of the batch's nodes, the model run over the whole graph."""
        logits = model(batch.features, batch.edge_index).logits
        return F.cross_entropy(
            logits[batch.nodes].float(), batch.labels, reduction="sum", label_smoothing=ctx.train.label_smoothing
        )

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def _probabilities(self, model: nn.Module, need_weights: bool = False):
        device = next(model.parameters()).device
        out = model(self.features.to(device), self.edge_index.to(device), need_weights=need_weights)
        return torch.softmax(out.logits.float(), dim=-1).cpu(), out

    def evaluate(
        self, model: nn.Module, examples: Sequence[int], *, decode: Any = None
    ) -> tuple[dict[str, Any], list[ClassLabel]]:
        """Accuracy, macro-F1, per-class accuracy and the confusion matrix on the nodes `examples`.

        Raises:
            ValueError: for no nodes (`decode` is ignored: nothing is decoded).
        """
        p, _ = self._probabilities(model)
        nodes = torch.tensor(list(examples), dtype=torch.long)
        predicted = p[nodes].argmax(-1).tolist()
        metrics = classification_metrics(predicted, self.labels[nodes].tolist(), len(self.classes))
        metrics["classes"] = self.classes
        return metrics, [
            ClassLabel(self.classes[k], float(p[i, k]), int(self.labels[i])) for i, k in zip(nodes.tolist(), predicted)
        ]

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return classification_report(metrics, "nodes", detailed=detailed)

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[NodePrediction]:
        """The class of each named node (a package name), with the attention of every layer over
        its incoming edges.

        Raises:
            attnkit.errors.InputError: for an unknown node or any option; all inputs are checked first.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        missing = [name for name in inputs if name not in self.index]
        if missing:
            close = did_you_mean(missing[0], self.graph.names)
            raise InputError(
                f"no node {missing[0]!r} in this run's graph; give a node name, e.g. {self.graph.names[0]}{close}"
            )
        if not inputs:
            raise InputError("no input nodes")
        p, out = self._probabilities(model, need_weights=True)
        preds = []
        for name in inputs:
            i = self.index[name]
            k = int(p[i].argmax())
            read = out.incoming(i)  # the model reads its own edge weights
            sources, weights = read if read is not None else (self.edge_index[0, self.edge_index[1] == i].tolist(), [])
            preds.append(
                NodePrediction(
                    self.classes[k],
                    float(p[i, k]),
                    name,
                    [self.graph.names[j] for j in sources],
                    weights,
                    [self.classes[int(self.labels[j])] if self.labels[j] >= 0 else "?" for j in sources],
                    p[i].tolist(),
                )
            )
        return preds


@dataclass
class KarateClubTask(DebianPackagesTask):
    """Zachary's karate club [Zachary77]: a member's faction from the friendships (tests, docs)."""

    name = "karate-club"
    config_class = KarateConfig

    @classmethod
    def _graph(cls, cfg: KarateConfig) -> NodeGraph:
        return karate_club()
