"""``graph-csv``: node classification on the user's own graph, a node table and an edge list in
CSV (the formats: :mod:`attnkit.data.user_graph`), for the families ``gat`` (GAT or GATv2 by
``model.version``), ``gcn`` and ``mlp``.

Everything after reading is :class:`~attnkit.tasks.graph_nodes.DebianPackagesTask`'s: the graph
is written into the run folder (``graph.safetensors``, with the sha256 of both files, so the run
no longer needs them); the labelled nodes are split, seeded and stratified by label
(:func:`attnkit.data.node_graph.split_nodes`: a label with fewer than 3 nodes stays in train),
unlabelled ones are in no split; training is full-graph and transductive [Velickovic18]; ``attnkit
predict --model RUN ID...`` gives the class of any node, labelled or not, with the attention over
its neighbourhood (kind ``graph-neighbourhood``).

References:
    [Velickovic18] P. Veličković et al. Graph Attention Networks. ICLR 2018. arXiv:1710.10903.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..data.node_graph import NodeGraph
from ..data.user_graph import read_user_graph
from ..errors import ConfigError
from .classification import check_split_fractions
from .graph_nodes import DebianPackagesTask

__all__ = ["UserGraphConfig", "UserGraphTask"]


@dataclass(frozen=True)
class UserGraphConfig:
    """``data.task: graph-csv``.

    Attributes:
        nodes: the node table, CSV with a header (paths are relative to the working folder).
        edges: the edge list, CSV with ``source`` and ``target`` columns.
        id_column, label_column: the node table's id and label columns (an empty label: unlabelled).
        feature_columns: the number columns used as features; empty: every column but the id,
            label and text columns.
        text_column: a column of text turned into binary bag-of-words features; "" = none.
        min_df: a word needs this many nodes' texts to be a feature.
        max_features: at most this many words (the most frequent).
        seed: seed of the split.
        dev_fraction, test_fraction: shares of each label's nodes in dev and test, in (0, 1).
    """

    task: str = "graph-csv"
    nodes: str = ""
    edges: str = ""
    id_column: str = "id"
    label_column: str = "label"
    feature_columns: tuple[str, ...] = ()
    text_column: str = ""
    min_df: int = 1
    max_features: int = 5000
    seed: int = 1234
    dev_fraction: float = 0.2
    test_fraction: float = 0.2

    def check(self) -> None:
        if not self.nodes or not self.edges:
            raise ConfigError(
                "data.nodes and data.edges: give the node table (CSV: id,label,features...) and the "
                "edge list (CSV: source,target)"
            )
        check_split_fractions(self)
        if min(self.min_df, self.max_features) < 1:
            raise ConfigError("data.min_df and data.max_features must be >= 1")
        special = [self.id_column, self.label_column, self.text_column]
        clash = [c for c in self.feature_columns if c in special]
        if clash or self.id_column == self.label_column:
            raise ConfigError(
                "data.id_column, data.label_column, data.text_column and data.feature_columns must "
                "name different columns"
            )


@dataclass
class UserGraphTask(DebianPackagesTask):
    """Node classification of the user's graph (:class:`UserGraphConfig`); families ``gat``,
    ``gcn``, ``mlp``. Primary metric: accuracy; macro-F1 breaks ties."""

    name = "graph-csv"
    config_class = UserGraphConfig

    @classmethod
    def _graph(cls, cfg: Any) -> NodeGraph:
        """The graph of the two files.

        Raises:
            attnkit.errors.ConfigError: for a malformed file (naming the file and line), or no
                label with the 3 nodes that give dev and test one each.
        """
        graph = read_user_graph(
            cfg.nodes,
            cfg.edges,
            id_column=cfg.id_column,
            label_column=cfg.label_column,
            feature_columns=cfg.feature_columns,
            text_column=cfg.text_column,
            min_df=cfg.min_df,
            max_features=cfg.max_features,
        )
        if max(graph.counts["classes"].values()) < 3:
            raise ConfigError(
                f"{cfg.nodes}: no label has 3 labelled nodes, so dev and test would be empty; label more nodes"
            )
        return graph
