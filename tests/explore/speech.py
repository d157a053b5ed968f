"""Tiny speech runs for the explorer's tests (spoken words, spoken dates), spoken by espeak-ng and
trained for two steps only (the page shows any model's attention; it need not be good), and a
recording to upload."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from attnkit.config import load_config
from attnkit.training.pipeline import train_run

COMMON = ["train.batch_size=4", "train.max_steps=2", "train.eval_every=2", "train.threads=1"]
SPEECH_RUNS = {
    "words": [
        "data.task=spoken-words",
        "data.words=[one, two]",
        "data.voices=[en+m1, en+m3, en+f1]",
        "data.speeds=[160]",
        "data.pitches=[50]",
        "data.dev_voices=1",
        "data.test_voices=1",
        "data.n_mels=40",
        "model.arch=speech-encoder",
        "model.d_model=16",
        "model.n_heads=2",
        "model.layers=1",
        "model.d_ff=32",
    ],
    "dates": [
        "data.task=spoken-dates",
        "data.n_train=4",
        "data.n_dev=2",
        "data.n_test=2",
        "data.locales=[en_US]",
        "data.variants=[m1, m3, f1]",
        "data.dev_variants=1",
        "data.test_variants=1",
        "data.speeds=[190]",
        "data.pitches=[50]",
        "data.n_mels=40",
        "model.arch=rnn",
        "model.attention=location-aware",
        "model.emb_dim=8",
        "model.hidden_dim=16",
        "model.attn_dim=16",
        "model.enc_layers=3",
        "model.loc_kernel=5",
    ],
}


def needs_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): the speech runs are spoken by it")


def train_speech_runs(root: Path) -> dict[str, Path]:
    """The two tiny runs under `root`, their recordings in `root`/cache."""
    needs_espeak()
    out = {}
    for name, overrides in SPEECH_RUNS.items():
        train_run(load_config(None, [*overrides, f"data.cache={root / 'cache'}", *COMMON]), root / name, progress=False)
        out[name] = root / name
    return out


def speak(path: Path, text: str, voice: str = "en+m7") -> bytes:
    """`text` spoken into the WAV file `path` (a voice no tiny run was trained on); its bytes."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path.read_bytes()
