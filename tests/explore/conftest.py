"""Tiny runs for the explorer's tests: a Bahdanau RNN and a Transformer on a reduced date task,
trained for a few steps only (the explorer shows any model's attention; it need not be good)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnkit.config import load_config
from attnkit.explore import RunRegistry, create_app
from attnkit.training.pipeline import train_run

REPO = Path(__file__).resolve().parents[2]
DATA = [
    "data.n_train=200",
    "data.n_dev=20",
    "data.n_test=20",
    "data.locales=[de_DE, en_US]",
    "train.max_steps=5",
    "train.eval_every=5",
    "train.batch_size=32",
    "train.threads=1",
]
RNN = ["model.emb_dim=8", "model.hidden_dim=12", "model.attn_dim=12"]
TRANSFORMER = [
    "model.d_model=16",
    "model.n_heads=2",
    "model.d_ff=32",
    "model.enc_layers=2",
    "model.dec_layers=2",
    "train.warmup_steps=2",
]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explore-runs")
    runs = {
        "bahdanau": (REPO / "configs" / "dates-bahdanau.yaml", RNN),
        "transformer": (REPO / "configs" / "dates-transformer.yaml", TRANSFORMER),
    }
    out = {}
    for name, (config, overrides) in runs.items():
        train_run(load_config(config, [*DATA, *overrides]), root / name, progress=False)
        out[name] = root / name
    return out


@pytest.fixture(scope="session")
def registry(tiny_runs) -> RunRegistry:
    return RunRegistry.load([tiny_runs["bahdanau"], tiny_runs["transformer"]])


@pytest.fixture()
def client(registry):
    return create_app(registry).test_client()
