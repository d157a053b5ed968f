"""A tiny date model trained once per test session through the CLI, shared by CLI tests."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A reduced date task that a small Bahdanau model learns in well under a minute on one core.
TINY = [
    "data.n_train=6000",
    "data.n_dev=300",
    "data.n_test=300",
    "data.locales=[de_DE, en_US]",
    "model.emb_dim=24",
    "model.hidden_dim=48",
    "model.attn_dim=48",
    "train.max_steps=600",
    "train.eval_every=150",
    "train.batch_size=64",
    "train.lr=0.005",
    "train.threads=1",
]


def attnkit(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed CLI as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "attnkit.cli", *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    sets = [arg for s in TINY for arg in ("--set", s)]
    proc = attnkit("train", str(REPO / "configs" / "dates-bahdanau.yaml"), "--out", str(out), *sets)
    assert proc.returncode == 0, proc.stderr
    return out
