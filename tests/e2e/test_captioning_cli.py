"""Captioning through the command line on the real Fashion-MNIST files: the shipped configs made
tiny with --set, train -> evaluate (greedy and beam) -> predict a PNG with the per-word attention
picture; one-line errors for a model without attention and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from attnkit.cli import main
from attnkit.data.fashion_mnist import FASHION_MNIST_DIR
from attnkit.tasks.captioning import ScenesCaptionTask

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)
TINY = [
    "data.n_train=64",
    "data.n_dev=8",
    "data.n_test=12",
    "model.channels=[4,8]",
    "model.pools=[4,3]",
    "model.emb_dim=8",
    "model.hidden_dim=16",
    "train.max_steps=4",
    "train.eval_every=2",
    "train.batch_size=16",
]


def _train(tmp_path, attention, extra=()):
    run = tmp_path / attention
    sets = [a for s in TINY + (["model.attn_dim=8"] if attention != "none" else []) + list(extra) for a in ("--set", s)]
    assert (
        main(
            [
                "train",
                str(REPO / "configs" / f"scenes-caption-{attention}.yaml"),
                "--out",
                str(run),
                "--no-progress",
                *sets,
            ]
        )
        == 0
    )
    return run


def test_train_evaluate_predict_with_soft_attention(tmp_path, capsys):
    run = _train(tmp_path, "soft")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 12 and {f"bleu_{n}" for n in range(1, 5)} <= set(metrics)
    assert 0 <= metrics["exact_match"] <= 1 and "localisation_accuracy" in metrics and "chance_peak" in metrics
    assert main(["evaluate", "--model", str(run), "--beam", "3"]) == 0
    out = capsys.readouterr().out
    assert "BLEU-4:" in out and "localisation accuracy:" in out and "chance" in out
    assert main(["evaluate", "--model", str(run), "--precision", "bf16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 12
    scene = ScenesCaptionTask.load_split(run, "test")[0]
    Image.fromarray(scene.image.numpy()).save(tmp_path / "scene.png")
    assert (
        main(
            [
                "predict",
                "--model",
                str(run),
                str(tmp_path / "scene.png"),
                "--beam",
                "5",
                "--attention-plot",
                str(tmp_path / "words.png"),
            ]
        )
        == 0
    )
    caption = capsys.readouterr().out.strip()
    assert len(caption.splitlines()) == 1 and (tmp_path / "words.png").stat().st_size > 0
    assert main(["predict", "--model", str(run), str(tmp_path / "scene.png"), "--option", "size=3"]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown option size" in err and len(err.splitlines()) == 1
    assert main(["predict", "--model", str(run), str(tmp_path / "scene.png"), "--batch-tokens", "100"]) == 1
    assert "--batch-tokens does not apply" in capsys.readouterr().err


def test_hard_and_no_attention_train_and_evaluate(tmp_path, capsys):
    hard = _train(tmp_path, "hard")
    none = _train(tmp_path, "none")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(hard), "--json"]) == 0
    assert "localisation_accuracy" in json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--model", str(none)]) == 0
    assert "n/a (the model has no attention)" in capsys.readouterr().out
    Image.new("L", (84, 84)).save(tmp_path / "blank.png")
    assert (
        main(
            [
                "predict",
                "--model",
                str(none),
                str(tmp_path / "blank.png"),
                "--attention-plot",
                str(tmp_path / "none.png"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert "no attention" in err and len(err.splitlines()) == 1
    assert main(["predict", "--model", str(none), str(tmp_path / "missing.png")]) == 1
    assert "no such file" in capsys.readouterr().err
