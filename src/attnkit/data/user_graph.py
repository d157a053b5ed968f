"""A user's graph for node classification, from two CSV files: a node table and an edge list.

Node table (a header line, then one node per line):

- the id column (``id_column``, default ``id``): the node's name, unique, non-empty;
- the label column (``label_column``, default ``label``): its class; empty = unlabelled (the node
  is in the graph and can be predicted, but is in no split);
- features: the columns named in ``feature_columns`` (or, when none are named, every column but
  the id, label and text columns), each a finite number on every line; and/or the text column
  (``text_column``) turned into a bag of words: scikit-learn's ``CountVectorizer`` (lower-cased,
  words of 2+ letters or digits) with ``binary=True``, over the texts of all nodes, keeping words
  in at least ``min_df`` nodes, the ``max_features`` most frequent. The number columns come
  first, then the words. A table with neither gives every node a one-hot row of its index
  (transductive only, like the karate club's).

Edge list (a header line, then one edge per line): the columns ``source`` and ``target`` hold node
ids of the table; other columns are ignored. Edges are undirected (stored in both directions),
self-loops and repeats are dropped (:func:`attnkit.data.node_graph.undirected_edge_index`).

Every problem is one :class:`~attnkit.errors.ConfigError` naming the file and the line.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .node_graph import NodeGraph, make_graph, undirected_edge_index
from .user_files import Row, read_csv

__all__ = ["read_user_graph", "bag_of_words"]


def bag_of_words(texts: Sequence[str], *, min_df: int, max_features: int) -> tuple[np.ndarray, list[str]]:
    """Binary bag-of-words features of `texts` (N,): float32 (N, F) and the F words.

    Raises:
        attnkit.errors.ConfigError: if scikit-learn is missing, or no word is left.
    """
    try:
        from sklearn.feature_extraction.text import CountVectorizer
    except ImportError:
        raise ConfigError("a text column needs scikit-learn for its bag of words: pip install scikit-learn") from None
    vectorizer = CountVectorizer(binary=True, min_df=min_df, max_features=max_features, dtype=np.float32)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # "empty vocabulary"
        raise ConfigError(
            f"the text column has no word in at least {min_df} nodes; lower data.min_df or give longer texts"
        ) from None
    return counts.toarray(), list(vectorizer.get_feature_names_out())


def _number(path: str, row: Row, column: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        shown = repr(value) if value.strip() else "nothing"
        raise ConfigError(
            f"{path}:{row.line}: column {column!r} holds {shown}, not a finite number; every feature "
            "column needs a number on every line (name the feature columns with data.feature_columns)"
        )
    return x


def read_user_graph(
    nodes: str,
    edges: str,
    *,
    id_column: str = "id",
    label_column: str = "label",
    feature_columns: Sequence[str] = (),
    text_column: str = "",
    min_df: int = 1,
    max_features: int = 5000,
) -> NodeGraph:
    """The graph of a node table and an edge list (the module docstring gives the formats).

    Returns:
        A :class:`~attnkit.data.node_graph.NodeGraph`: names in table order, labels -1 for
        unlabelled nodes, classes the sorted labels, the two files and their sha256 as sources;
        counts add ``unlabelled``, ``self_loops`` and ``features`` (the words of a text column).

    Raises:
        attnkit.errors.ConfigError: one line naming the file and line: a missing file, a bad
            header or record, a repeated or empty id, a feature that is not a number, an edge to
            an id the table lacks; or fewer than two labels.
    """
    wanted = [id_column, label_column, *feature_columns, *([text_column] if text_column else [])]
    header, rows = read_csv(nodes, wanted, "the node table")
    col = {name: i for i, name in enumerate(header)}
    numbers = list(feature_columns) or [c for c in header if c not in (id_column, label_column, text_column)]
    names: list[str] = []
    index: dict[str, int] = {}
    raw_labels: list[str] = []
    values = np.zeros((len(rows), len(numbers)), dtype=np.float32)
    for r, row in enumerate(rows):
        name = row.fields[col[id_column]].strip()
        if not name:
            raise ConfigError(f"{nodes}:{row.line}: the {id_column} field is empty; every node needs an id")
        if name in index:
            raise ConfigError(
                f"{nodes}:{row.line}: node {name!r} appears twice (first on line {rows[index[name]].line})"
            )
        index[name] = len(names)
        names.append(name)
        raw_labels.append(row.fields[col[label_column]].strip())
        for k, column in enumerate(numbers):
            values[r, k] = _number(nodes, row, column, row.fields[col[column]])
    if not rows:
        raise ConfigError(f"{nodes}: no nodes after the header")
    classes = sorted({y for y in raw_labels if y})
    if len(classes) < 2:
        raise ConfigError(f"{nodes}: the {label_column} column names {len(classes)} class(es); give at least two")
    labels = np.array([classes.index(y) if y else -1 for y in raw_labels], dtype=np.int64)
    parts, counts = [values], {"unlabelled": int((labels < 0).sum())}
    if text_column:
        words, vocabulary = bag_of_words(
            [row.fields[col[text_column]] for row in rows], min_df=min_df, max_features=max_features
        )
        parts.append(words)
        counts["words"] = len(vocabulary)
    features = np.concatenate(parts, axis=1)
    if features.shape[1] == 0:
        features = np.eye(len(names), dtype=np.float32)
    counts["features"] = int(features.shape[1])
    edge_header, edge_rows = read_csv(edges, ["source", "target"], "the edge list")
    pairs = np.zeros((len(edge_rows), 2), dtype=np.int64)
    ends = (edge_header.index("source"), edge_header.index("target"))
    for e, row in enumerate(edge_rows):
        for k, at in enumerate(ends):
            node = row.fields[at].strip()
            if node not in index:
                raise ConfigError(
                    f"{edges}:{row.line}: node {node!r} is not in the node table {nodes} "
                    f"(column {('source', 'target')[k]})"
                )
            pairs[e, k] = index[node]
    counts["self_loops"] = int((pairs[:, 0] == pairs[:, 1]).sum())
    sources = [(str(p), hashlib.sha256(Path(p).read_bytes()).hexdigest()) for p in (nodes, edges)]
    edge_index = undirected_edge_index(pairs, len(names))
    return make_graph(names, edge_index, labels, classes, features, counts=counts, sources=sources)
