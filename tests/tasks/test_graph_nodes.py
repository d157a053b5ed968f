"""Node classification tasks and the gat / gcn / mlp families: the karate club end to end through
the CLI, the loss and metrics against plain re-computations, the GCN layer against the dense
formula D^-1/2 (A + I) D^-1/2 H W, prediction of a named node with its neighbourhood's attention,
and the Debian package graph's one-line error when the apt lists are missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnkit.cli import main
from attnkit.config import TrainConfig
from attnkit.errors import ConfigError, InputError
from attnkit.models import FAMILIES, GATConfig, GCNConfig, MLPConfig
from attnkit.models.gnn import GATClassifier, GCNLayer
from attnkit.tasks import TASKS
from attnkit.tasks.base import LossContext
from attnkit.tasks.graph_nodes import DebianGraphConfig, KarateConfig

REPO = Path(__file__).resolve().parents[2]


def _karate(tmp_path):
    return TASKS.get("karate-club").build(KarateConfig(), tmp_path)


def test_the_split_and_the_graph_are_written_into_the_run_folder(tmp_path):
    task, splits = _karate(tmp_path)
    assert sum(map(len, splits.values())) == 34 and not set(splits["train"]) & set(splits["test"])
    assert task.spec.in_dim == 34 and task.spec.n_classes == 2
    again = TASKS.get("karate-club").load(KarateConfig(), tmp_path)
    assert torch.equal(again.edge_index, task.edge_index) and again.classes == task.classes
    assert TASKS.get("karate-club").load_split(tmp_path, "dev") == splits["dev"]


@pytest.mark.parametrize(
    "family, cfg",
    [
        ("gat", GATConfig(n_heads=2, dropout=0.0)),
        ("gat", GATConfig(version="gatv2", dropout=0.0)),
        ("gcn", GCNConfig(dropout=0.0)),
        ("mlp", MLPConfig(dropout=0.0)),
    ],
)
def test_loss_and_metrics_match_a_plain_computation(tmp_path, family, cfg):
    task, splits = _karate(tmp_path)
    torch.manual_seed(0)
    model = FAMILIES.get(family).build(cfg, task.spec).eval()
    batch = task.collate(splits["train"])
    logits = model(task.features, task.edge_index).logits  # (34, 2)
    nodes = torch.tensor(splits["train"])
    expected = F.cross_entropy(logits[nodes], task.labels[nodes], reduction="sum")
    torch.testing.assert_close(task.loss(model, batch, LossContext(TrainConfig())), expected)
    metrics, preds = task.evaluate(model, splits["test"])
    test = torch.tensor(splits["test"])
    assert metrics["accuracy"] == pytest.approx(float((logits[test].argmax(-1) == task.labels[test]).float().mean()))
    assert len(preds) == len(test) and metrics["classes"] == task.classes


def test_gcn_layer_equals_the_dense_formula():
    torch.manual_seed(0)
    n = 6
    pairs = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5)]
    edge_index = torch.tensor(
        [[a for a, b in pairs] + [b for a, b in pairs], [b for a, b in pairs] + [a for a, b in pairs]]
    )
    x = torch.randn(n, 3, dtype=torch.float64)
    layer = GCNLayer(3, 4).double()
    a = torch.eye(n, dtype=torch.float64)
    for s, t in edge_index.T.tolist():
        a[t, s] = 1.0
    d = a.sum(1).rsqrt()
    expected = d[:, None] * a * d[None, :] @ (x @ layer.proj.weight.T) + layer.bias
    torch.testing.assert_close(layer(x, edge_index), expected)
    assert torch.autograd.gradcheck(lambda h: layer(h, edge_index), (x.requires_grad_(),))


def test_gat_classifier_returns_every_layers_weights():
    torch.manual_seed(0)
    model = GATClassifier(5, 3, hidden_dim=4, n_heads=2, out_heads=3, layers=3, dropout=0.0)
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    out = model(torch.randn(4, 5), edge_index, need_weights=True)
    assert out.logits.shape == (4, 3)
    assert [tuple(w.shape) for w in out.layer_weights] == [(8, 2), (8, 2), (8, 3)]  # 4 edges + 4 self-loops
    assert out.edge_index.shape == (2, 8)
    sums = torch.zeros(4, 3).index_add_(0, out.edge_index[1], out.layer_weights[-1])
    torch.testing.assert_close(sums, torch.ones(4, 3))
    assert model(torch.randn(4, 5), edge_index).layer_weights == ()


def test_predict_a_node_with_its_neighbourhood(tmp_path):
    task, _ = _karate(tmp_path)
    model = FAMILIES.get("gat").build(GATConfig(n_heads=2), task.spec).eval()
    (pred,) = task.predict(model, ["33"])
    neighbours = sorted(task.graph.names[j] for j in task.edge_index[0, task.edge_index[1] == 33].tolist())
    assert sorted(pred.neighbours) == sorted(neighbours + ["33"])  # with its self-loop
    assert [tuple(w.shape) for w in pred.edge_weights] == [(18, 2), (18, 1)]
    assert float(pred.edge_weights[-1].sum()) == pytest.approx(1.0)
    with pytest.raises(InputError, match="no node 'nobody' in this run's graph"):
        task.predict(model, ["33", "nobody"])
    with pytest.raises(InputError, match="takes no options"):
        task.predict(model, ["33"], options={"k": "v"})


def test_karate_club_through_the_cli(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(REPO / "configs" / "karate-gat.yaml"),
                "--out",
                str(run),
                "--no-progress",
                "--set",
                "train.max_steps=20",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--json", "--confusion-plot", str(tmp_path / "cm.png")]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == len(TASKS.get("karate-club").load_split(run, "test")) == 6
    args = ["predict", "--model", str(run), "0", "33", "--top-k", "0", "--attention-plot", str(tmp_path / "n.png")]
    assert main(args) == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) >= 2 and set(lines) <= {"Mr.", "Hi", "Officer"}
    assert (tmp_path / "n-1.png").is_file() and (tmp_path / "n-2.png").is_file()
    assert (
        main(
            ["predict", "--model", str(run), "0", "--attention-heads", "3", "--attention-plot", str(tmp_path / "x.png")]
        )
        == 2
    )


def test_missing_apt_lists_are_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match="run `apt-get update` first"):
        TASKS.get("debian-packages").build(DebianGraphConfig(lists_dir=str(tmp_path)), tmp_path / "run")


def test_family_configs_are_checked():
    with pytest.raises(ConfigError, match="unknown 'gat3'"):
        GATConfig(version="gat3").check()
    with pytest.raises(ConfigError, match="model.n_heads must be >= 1"):
        GATConfig(n_heads=0).check()
    with pytest.raises(ConfigError, match="dropout"):
        GCNConfig(dropout=1.0).check()
    assert FAMILIES.get("gat").label(GATConfig(version="gatv2")) == "gatv2"
