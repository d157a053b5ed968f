"""``graph-csv`` on a node table and an edge list the test writes: train, evaluate and predict
(an unlabelled node too) through the CLI; the graph the run keeps holds the table's numbers, the
bag of words of its text column and every edge in both directions; unlabelled nodes are in no
split; a malformed line is a one-line error naming the file and the line."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from attnkit.cli import main
from attnkit.data.node_graph import load_graph

WORDS = {"red": ["apple", "cherry", "fire", "rose"], "blue": ["sea", "sky", "ice", "whale"]}

CONFIG = """\
data:
  task: graph-csv
  nodes: nodes.csv
  edges: edges.csv
  text_column: description
model:
  arch: {arch}
  hidden_dim: 8
train:
  batch_size: 32
  lr: 0.01
  eval_every: 5
  max_steps: 10
  threads: 1
  seed: 1
"""


def _write_graph(folder: Path) -> tuple[list[list[str]], list[tuple[str, str]]]:
    rng = random.Random(0)
    nodes = []
    for i in range(40):
        label = "red" if i < 20 else "blue"
        shown = "" if i % 10 == 9 else label  # 4 unlabelled nodes
        nodes.append(
            [f"n{i}", shown, f"{rng.random():.3f}", f"{rng.randint(0, 9)}", " ".join(rng.choices(WORDS[label], k=3))]
        )
    edges = []
    for _ in range(80):
        a = rng.randrange(40)
        edges.append((f"n{a}", f"n{(a // 20) * 20 + rng.randrange(20)}"))
    with open(folder / "nodes.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["id", "label", "size", "age", "description"], *nodes])
    with open(folder / "edges.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["source", "target", "weight"], *[(a, b, "1") for a, b in edges]])
    return nodes, edges


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err, err
    return err.splitlines()[-1]


@pytest.mark.parametrize("arch", ["gat", "gcn"])
def test_a_graph_from_csv_through_the_cli(tmp_path, monkeypatch, capsys, arch):
    monkeypatch.chdir(tmp_path)
    nodes, edges = _write_graph(tmp_path)
    (tmp_path / "graph.yaml").write_text(CONFIG.format(arch=arch))
    assert main(["train", "graph.yaml", "--out", "run", "--no-progress"]) == 0
    graph = load_graph(tmp_path / "run" / "graph.safetensors")
    assert graph.names == tuple(n[0] for n in nodes) and graph.classes == ("blue", "red")
    assert graph.labels.tolist() == [("blue", "red").index(n[1]) if n[1] else -1 for n in nodes]
    # features: the number columns, then one 0/1 column per word of the texts (8 words, sorted)
    numbers = np.array([[float(n[2]), float(n[3])] for n in nodes], dtype=np.float32)
    np.testing.assert_array_equal(graph.features[:, :2], numbers)
    vocabulary = sorted(w for ws in WORDS.values() for w in ws)
    present = np.array([[float(w in n[4].split()) for w in vocabulary] for n in nodes], dtype=np.float32)
    np.testing.assert_array_equal(graph.features[:, 2:], present)
    index = {n[0]: i for i, n in enumerate(nodes)}
    undirected = {frozenset((index[a], index[b])) for a, b in edges if a != b}
    assert {frozenset(e) for e in graph.edge_index.T.tolist()} == undirected
    assert graph.edge_index.shape[1] == 2 * len(undirected)
    splits = json.loads((tmp_path / "run" / "data" / "splits.json").read_text())
    in_splits = [i for s in ("train", "dev", "test") for i in splits[s]]
    assert sorted(in_splits) == [i for i, n in enumerate(nodes) if n[1]]  # every labelled node once, no other
    capsys.readouterr()
    assert main(["evaluate", "--model", "run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == len(splits["test"])
    assert main(["predict", "--model", "run", "n9", "n0", "--json"]) == 0  # n9 is unlabelled
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["kind"] for o in out] == ["graph-neighbourhood"] * 2 and {o["output"] for o in out} <= {"red", "blue"}
    if arch == "gat":  # n9 attends to itself (a self-loop), an unlabelled node: its class shows as "?"
        assert out[0]["classes"][out[0]["neighbours"].index("n9")] == "?"


def test_named_feature_columns_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nodes, _ = _write_graph(tmp_path)
    (tmp_path / "graph.yaml").write_text(CONFIG.format(arch="mlp"))
    sets = ["--set", "data.feature_columns=[age]", "--set", 'data.text_column=""', "--set", "train.max_steps=1"]
    assert main(["train", "graph.yaml", "--out", "run", "--no-progress", *sets]) == 0
    graph = load_graph(tmp_path / "run" / "graph.safetensors")
    assert graph.features.tolist() == [[float(n[3])] for n in nodes]


@pytest.mark.parametrize(
    "file, line, message",
    [
        ("edges.csv", "n1,zz,1", "edges.csv:82: node 'zz' is not in the node table nodes.csv (column target)"),
        ("nodes.csv", "n40,red,big,1,sea", "nodes.csv:42: column 'size' holds 'big', not a finite number"),
        ("nodes.csv", "n3,red,0.5,1,sea", "nodes.csv:42: node 'n3' appears twice (first on line 5)"),
        ("nodes.csv", "n41,red,0.5", "nodes.csv:42: 3 fields, but the header names 5"),
    ],
)
def test_a_malformed_line_is_one_line_naming_the_file_and_line(tmp_path, monkeypatch, capsys, file, line, message):
    monkeypatch.chdir(tmp_path)
    _write_graph(tmp_path)
    with open(tmp_path / file, "a") as fh:
        fh.write(line + "\n")
    (tmp_path / "graph.yaml").write_text(CONFIG.format(arch="gat"))
    assert main(["train", "graph.yaml", "--out", "run", "--no-progress"]) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_too_few_labelled_nodes_for_dev_and_test_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nodes.csv").write_text("id,label\na,x\nb,x\nc,y\nd,\n")
    (tmp_path / "edges.csv").write_text("source,target\na,b\nc,d\n")
    (tmp_path / "graph.yaml").write_text(CONFIG.format(arch="gat").replace("  text_column: description\n", ""))
    assert main(["train", "graph.yaml", "--out", "run", "--no-progress"]) == 2
    assert "nodes.csv: no label has 3 labelled nodes" in _error_line(capsys)
