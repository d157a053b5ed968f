"""The image tasks through the command line, on the real Fashion-MNIST files: train the shipped
configs (made tiny with --set), evaluate with the confusion-matrix picture, predict a PNG with the
attention picture; and the one-line errors of bad image input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from attnkit.cli import main
from attnkit.data.fashion_mnist import FASHION_MNIST_DIR
from attnkit.studies.vision import DATASETS, VARIANTS, vision_config

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)
TINY = [
    "data.dev_size=100",
    "data.train_size=400",
    "data.test_size=60",
    "train.max_steps=12",
    "train.eval_every=6",
    "train.batch_size=32",
]


def _sets(items):
    return [arg for s in items for arg in ("--set", s)]


@pytest.mark.parametrize(
    "config, extra",
    [
        ("fashion-cnn-cbam.yaml", ["model.channels=[8,16]"]),
        ("fashion-vit.yaml", ["model.d_model=16", "model.layers=2", "model.d_ff=16"]),
        ("canvas-stn-cnn.yaml", ["model.channels=[8,16]"]),
    ],
)
def test_train_evaluate_predict(tmp_path, capsys, config, extra):
    run = tmp_path / "run"
    assert (
        main(["train", str(REPO / "configs" / config), "--out", str(run), "--no-progress", *_sets(TINY + extra)]) == 0
    )
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--json", "--confusion-plot", str(tmp_path / "cm.png")]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 60 and 0 <= metrics["accuracy"] <= 1 and len(metrics["confusion"]) == 10
    assert (tmp_path / "cm.png").stat().st_size > 0
    assert main(["evaluate", "--model", str(run), "--detailed"]) == 0
    out = capsys.readouterr().out
    assert "accuracy:" in out and "Ankle boot" in out
    record = json.loads((run / "data" / "test.json").read_text())
    size = 60 if config.startswith("canvas") else 28
    picture = Image.new("L", (size, size))
    picture.paste(255, (size // 3, size // 3, 2 * size // 3, 2 * size // 3))
    picture.save(tmp_path / "item.png")
    assert (
        main(
            ["predict", "--model", str(run), str(tmp_path / "item.png"), "--attention-plot", str(tmp_path / "att.png")]
        )
        == 0
    )
    line = capsys.readouterr().out.strip()  # the three most probable classes: "Bag 12.7%, Dress 11.9%, ..."
    assert line.count("%") == 3
    assert line.split(", ")[0].rsplit(" ", 1)[0] in (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    assert (tmp_path / "att.png").stat().st_size > 0 and len(record["indices"]) == 60


def test_bad_image_input_is_a_one_line_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(REPO / "configs" / "fashion-cnn.yaml"),
                "--out",
                str(run),
                "--no-progress",
                *_sets(TINY + ["model.channels=[4,8]", "train.max_steps=2"]),
            ]
        )
        == 0
    )
    capsys.readouterr()
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["predict", "--model", str(run), str(tmp_path / "notes.txt")]) == 1
    err = capsys.readouterr().err.strip()
    assert "not an image Pillow can read" in err and len(err.splitlines()) == 1
    assert main(["predict", "--model", str(run), str(tmp_path / "gone.png")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(run), "--beam", "3"]) == 2
    assert "does not decode, so it takes no --beam" in capsys.readouterr().err


def test_the_shipped_configs_are_the_study_recipes():
    """configs/{fashion,canvas}-{variant}.yaml hold the settings the vision study trains with."""
    for data in DATASETS:
        for variant in VARIANTS:
            shipped = yaml.safe_load((REPO / "configs" / f"{data}-{variant}.yaml").read_text())
            study = vision_config(data, variant, seed=1234, minutes=0.0).to_dict()
            for section in ("data", "model"):
                assert shipped[section] == {k: v for k, v in study[section].items() if k in shipped[section]}, (
                    data,
                    variant,
                    section,
                )
                assert all(study[section][k] == v for k, v in shipped[section].items())
            assert {k: v for k, v in study["train"].items() if k in shipped["train"]} == shipped["train"]


def test_stn_diagnostics_of_known_transforms(tmp_path):
    """The study's localisation statistics for transforms set by hand: the identity covers the
    whole canvas; a centred zoom by 1/2 samples a quarter of it and covers the share of each
    item's box inside the central square, counted here pixel by pixel."""
    import numpy as np
    import torch

    from attnkit.studies.vision import stn_diagnostics
    from attnkit.training.run import load_run

    run_dir = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(REPO / "configs" / "canvas-stn-cnn.yaml"),
                "--out",
                str(run_dir),
                "--no-progress",
                *_sets(TINY + ["model.channels=[8,16]", "train.max_steps=2"]),
            ]
        )
        == 0
    )
    run = load_run(run_dir)
    last = run.model.stn.regressor[-1]
    boxes = json.loads((run_dir / "data" / "test.json").read_text())["transforms"]["box"][:40]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]))
    d = stn_diagnostics(run, n_images=40)
    assert d["n_images"] == 40 and d["frame_area"] == pytest.approx(1.0) and d["item_coverage"] == pytest.approx(1.0)
    assert max(max(row) for row in d["theta_sd"]) == 0 and np.isnan(d["r_x"])
    with torch.no_grad():
        last.bias.copy_(torch.tensor([0.5, 0, 0, 0, 0.5, 0]))
    d = stn_diagnostics(run, n_images=40)
    inside = []  # pixel (col, row) centres of a 60-pixel canvas inside the central half: 15 <= col < 45
    for x0, y0, x1, y1 in boxes:
        cols = [c for c in range(x0, x1) if 15 <= c < 45]
        rows = [r for r in range(y0, y1) if 15 <= r < 45]
        inside.append(len(cols) * len(rows) / ((x1 - x0) * (y1 - y0)))
    assert d["frame_area"] == pytest.approx(0.25) and d["item_coverage"] == pytest.approx(np.mean(inside))
