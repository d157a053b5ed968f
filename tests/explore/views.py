"""Tiny image and graph runs for the tests of the explorer's pictures (overlays, neighbourhoods):
trained for two or three steps only (the pictures show any model's attention; it need not be good)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from attnkit.config import load_config
from attnkit.training.pipeline import train_run

from .conftest import REPO

SMALL = [
    "data.train_size=300",
    "data.dev_size=100",
    "data.test_size=50",
    "train.max_steps=2",
    "train.eval_every=2",
    "train.threads=1",
    "train.batch_size=32",
]
IMAGE_RUNS = {
    # a non-local block (its query pixel) and a spatial transformer in one small CNN
    "nl-stn": ("fashion-cnn-nonlocal.yaml", ["model.channels=[4, 8]", "model.stn=true"]),
    "cbam": ("fashion-cnn-cbam.yaml", ["model.channels=[4, 8]"]),
    "vit": (
        "fashion-vit.yaml",
        ["model.d_model=16", "model.n_heads=2", "model.layers=2", "model.d_ff=32", "train.warmup_steps=1"],
    ),
}


def needs_fashion() -> None:
    from attnkit.data.fashion_mnist import FASHION_MNIST_DIR

    if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist")


def train_image_runs(root: Path, names=tuple(IMAGE_RUNS)) -> dict[str, Path]:
    needs_fashion()
    out = {}
    for name in names:
        config, overrides = IMAGE_RUNS[name]
        train_run(load_config(REPO / "configs" / config, [*SMALL, *overrides]), root / name, progress=False)
        out[name] = root / name
    return out


def train_karate(root: Path) -> Path:
    train_run(
        load_config(
            REPO / "configs" / "karate-gat.yaml", ["train.max_steps=3", "train.eval_every=3", "train.threads=1"]
        ),
        root / "karate",
        progress=False,
    )
    return root / "karate"


def test_image_png(run_dir: Path, index: int = 0) -> bytes:
    """A test image of the run, as PNG bytes (what a user uploads)."""
    from PIL import Image

    from attnkit.training import load_run

    run = load_run(run_dir)
    example = run.task.load_split(run_dir, "test")[index]
    buffer = io.BytesIO()
    Image.fromarray(example.image.numpy()).save(buffer, "PNG")
    return buffer.getvalue()


test_image_png.__test__ = False  # a helper, not a test


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
