"""Graphs for node classification: the :class:`NodeGraph` type, its file format, seeded
stratified node splits, and Zachary's karate club [Zachary77] as a small graph for tests and docs.

A :class:`NodeGraph` holds numpy arrays (tasks turn them into tensors): N named nodes, an
undirected edge list stored in both directions, one class label per node and a feature row per
node. :mod:`attnkit.data.debian_graph` builds the large one, the Debian package graph.

:func:`save_graph` writes one safetensors file: the arrays as tensors, everything else (names,
class names, counts, the sources read and their sha256, the sha256 of each array) as JSON in the
file's metadata; no pickle, written atomically. :func:`load_graph` checks the format, the hashes
and the shapes, and fails with a one-line :class:`~attnkit.errors.InputError`.

References:
    [Zachary77] W. W. Zachary. An Information Flow Model for Conflict and Fission in Small Groups.
    Journal of Anthropological Research 33(4):452-473, 1977. DOI:10.1086/jar.33.4.3629752.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, InputError
from ..io import atomic_path

__all__ = [
    "NodeGraph",
    "NodeSplits",
    "GRAPH_FORMAT",
    "array_sha256",
    "save_graph",
    "load_graph",
    "split_nodes",
    "karate_club",
    "undirected_edge_index",
    "make_graph",
]

GRAPH_FORMAT = "attnkit-node-graph/1"
_ARRAYS = ("edge_index", "labels", "features")


def array_sha256(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and C-order bytes (so a reshaped array hashes differently)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class NodeGraph:
    """A graph whose nodes carry a class label and a feature vector.

    Attributes:
        names: (N,) node names (package names, or ``"0"``..``"33"`` for the karate club).
        edge_index: int64 (2, E): row 0 the source, row 1 the target node index in [0, N). Every
            undirected edge appears in both directions (E is twice the undirected count), sorted by
            (source, target); no self-loops, no duplicates.
        labels: int64 (N,), indices into `classes`; -1 for an unlabelled node (in no split,
            still part of the graph and predicted like any other).
        classes: class names (for the Debian graph, the archive sections), sorted.
        features: float32 (N, F) node features.
        counts: ``nodes``, ``edges`` (undirected), ``classes`` (name -> nodes) and whatever the
            builder adds (the Debian graph: ``unresolved``, ``self_loops``, ``stanzas``, ...).
        sources: (file name, sha256 of its bytes) for each file read, in the order read.
        arrays_sha256: array name -> :func:`array_sha256` of `edge_index`, `labels`, `features`.
    """

    names: tuple[str, ...]
    edge_index: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    features: np.ndarray
    counts: dict = field(default_factory=dict)
    sources: tuple[tuple[str, str], ...] = ()
    arrays_sha256: dict = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return len(self.names)

    @property
    def num_edges(self) -> int:
        """Undirected edges (half the columns of `edge_index`)."""
        return self.edge_index.shape[1] // 2


def undirected_edge_index(pairs: np.ndarray, num_nodes: int) -> np.ndarray:
    """Both directions of each undirected pair, self-loops and duplicates removed, sorted.

    Args:
        pairs: int (P, 2) node index pairs in [0, `num_nodes`), in any direction, repeats allowed.
        num_nodes: N.

    Returns:
        int64 (2, E), row 0 source and row 1 target, sorted by (source, target).
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    both = np.concatenate([pairs, pairs[:, ::-1]])  # (2P, 2)
    keys = np.unique(both[:, 0] * num_nodes + both[:, 1])  # sorted, unique
    return np.stack([keys // num_nodes, keys % num_nodes]).astype(np.int64)


def make_graph(names, edge_index, labels, classes, features, counts=None, sources=()) -> NodeGraph:
    """A :class:`NodeGraph` with the standard counts (nodes, undirected edges, nodes per class)
    added to `counts` and the array hashes filled in; labels become int64, features float32.

    Args:
        names: N node names.
        edge_index: int64 (2, E) from :func:`undirected_edge_index`.
        labels: int (N,) indices into `classes`.
        classes: class names.
        features: (N, F) node features.
        counts: further counts to record (e.g. unresolved dependencies).
        sources: (what was read, its sha256) pairs.
    """
    labels = np.asarray(labels, dtype=np.int64)
    per_class = np.bincount(labels[labels >= 0], minlength=len(classes))
    counts = {
        "nodes": len(names),
        "edges": edge_index.shape[1] // 2,
        "classes": {c: int(n) for c, n in zip(classes, per_class)},
        **(counts or {}),
    }
    arrays = {"edge_index": edge_index, "labels": labels, "features": np.asarray(features, dtype=np.float32)}
    return NodeGraph(
        tuple(names),
        arrays["edge_index"],
        labels,
        tuple(classes),
        arrays["features"],
        counts,
        tuple(tuple(s) for s in sources),
        {k: array_sha256(v) for k, v in arrays.items()},
    )


def karate_club(*, degree_features: bool = False) -> NodeGraph:
    """Zachary's karate club [Zachary77] from networkx: 34 members, 78 friendships, and the
    faction each member joined after the split as the label (0 "Mr. Hi", 1 "Officer").

    Args:
        degree_features: give each node one feature, its degree, instead of a one-hot row of its
            index (34 features).

    Returns:
        A :class:`NodeGraph` with names ``"0"``..``"33"`` and 156 directed edge columns.
    """
    import networkx as nx

    g = nx.karate_club_graph()
    classes = ("Mr. Hi", "Officer")
    labels = [classes.index(g.nodes[i]["club"]) for i in range(g.number_of_nodes())]
    edge_index = undirected_edge_index(np.array(list(g.edges()), dtype=np.int64), g.number_of_nodes())
    features: np.ndarray
    if degree_features:
        features = np.bincount(edge_index[0], minlength=g.number_of_nodes())[:, None]
    else:
        features = np.eye(g.number_of_nodes())
    edges_text = "\n".join(f"{a} {b}" for a, b in sorted(g.edges())).encode()
    return make_graph(
        [str(i) for i in range(g.number_of_nodes())],
        edge_index,
        labels,
        classes,
        features,
        sources=[(f"networkx {nx.__version__} karate_club_graph edges", hashlib.sha256(edges_text).hexdigest())],
    )


class NodeSplits(NamedTuple):
    """Sorted int64 node indices of each split; disjoint, together every node."""

    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray


def split_nodes(labels: np.ndarray, seed: int, dev_fraction: float = 0.1, test_fraction: float = 0.1) -> NodeSplits:
    """A seeded split of the nodes, stratified by label.

    Each class with at least 3 nodes puts ``round(n * test_fraction)`` nodes (at least 1, at most
    n - 2) in test, ``round(n * dev_fraction)`` (at least 1, leaving at least 1) in dev and the rest
    in train, so every such class appears in every split. A class with 1 or 2 nodes goes wholly
    to train: it cannot be in all three, and a model may still see it. Unlabelled nodes (label
    -1) are in no split. (scikit-learn's
    ``StratifiedShuffleSplit`` neither guarantees each class in each split nor accepts classes
    of one node, hence this per-class draw.)

    Args:
        labels: int (N,) class index of each node.
        seed: seeds ``numpy.random.default_rng``; the same seed and labels give the same split.
        dev_fraction: share of each class for dev, in (0, 1).
        test_fraction: share of each class for test, in (0, 1); with `dev_fraction` below 1.

    Raises:
        ConfigError: if a fraction is outside (0, 1) or the two add up to 1 or more.
    """
    for key, value in (("dev_fraction", dev_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ConfigError(f"{key} must lie in (0, 1), got {value}")
    if dev_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"dev_fraction + test_fraction must be below 1 to leave training nodes, got "
            f"{dev_fraction} + {test_fraction}"
        )
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "dev": [], "test": []}
    for label in np.unique(labels[labels >= 0]):
        members = rng.permutation(np.flatnonzero(labels == label))
        n = len(members)
        if n < 3:
            parts["train"].append(members)
            continue
        n_test = int(np.clip(round(n * test_fraction), 1, n - 2))
        n_dev = int(np.clip(round(n * dev_fraction), 1, n - 1 - n_test))
        parts["test"].append(members[:n_test])
        parts["dev"].append(members[n_test : n_test + n_dev])
        parts["train"].append(members[n_test + n_dev :])
    return NodeSplits(
        *(
            np.sort(np.concatenate(parts[k] or [np.empty(0, np.int64)])).astype(np.int64)
            for k in ("train", "dev", "test")
        )
    )


def save_graph(path: str | Path, graph: NodeGraph) -> Path:
    """Write `graph` to one safetensors file, atomically (format :data:`GRAPH_FORMAT`).

    Returns:
        The path written.
    """
    from safetensors.numpy import save

    arrays = {"edge_index": graph.edge_index, "labels": graph.labels, "features": graph.features}
    metadata = {
        "format": GRAPH_FORMAT,
        "graph": json.dumps(
            {
                "names": list(graph.names),
                "classes": list(graph.classes),
                "counts": graph.counts,
                "sources": [list(s) for s in graph.sources],
                "arrays_sha256": {k: array_sha256(v) for k, v in arrays.items()},
            },
            separators=(",", ":"),
        ),
    }
    data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def load_graph(path: str | Path) -> NodeGraph:
    """The graph :func:`save_graph` wrote to `path`.

    Raises:
        InputError: if the file is not a node-graph file, is damaged (an array whose sha256 differs
            from the one recorded), or its parts disagree (shapes, indices out of range).
        OSError: if it cannot be read.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    redo = "write it again with save_graph"
    try:
        with safe_open(str(path), framework="np") as fh:
            metadata = fh.metadata() or {}
            if metadata.get("format") != GRAPH_FORMAT:
                raise InputError(
                    f"{path}: not an attnkit node-graph file (format {metadata.get('format')!r}, "
                    f"expected {GRAPH_FORMAT!r})"
                )
            arrays = {k: fh.get_tensor(k) for k in _ARRAYS}
        info = json.loads(metadata["graph"])
        names, classes, recorded = tuple(info["names"]), tuple(info["classes"]), info["arrays_sha256"]
        counts, sources = info["counts"], tuple(tuple(s) for s in info["sources"])
    except InputError:
        raise
    except (SafetensorError, KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not a readable node-graph file ({err}); {redo}") from None
    for key, array in arrays.items():
        if array_sha256(array) != recorded.get(key):
            raise InputError(f"{path}: damaged node graph ({key} does not match its recorded sha256); {redo}")
    n, edges, labels = len(names), arrays["edge_index"], arrays["labels"]
    if (
        edges.ndim != 2
        or edges.shape[0] != 2
        or labels.shape != (n,)
        or arrays["features"].shape[:1] != (n,)
        or (edges.size and not 0 <= edges.min() <= edges.max() < n)
        or (labels.size and not -1 <= labels.min() <= labels.max() < len(classes))
    ):
        raise InputError(
            f"{path}: {n} names, edge_index {edges.shape}, labels {labels.shape} and features "
            f"{arrays['features'].shape} disagree; {redo}"
        )
    return NodeGraph(names, edges, labels, classes, arrays["features"], counts, sources, recorded)
