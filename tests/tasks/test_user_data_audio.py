"""``audio-labels`` and ``audio-transcripts`` on a folder of WAV files the test synthesises (tone
sequences, one pitch per letter) with a labels or transcripts TSV: train, evaluate and predict
through the CLI; the frames the run keeps have the documented count for each recording (one per
10 ms hop of a 25 ms window); a line naming a missing or non-audio file is a one-line error
naming the TSV, the line and the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from attnkit.cli import main
from attnkit.data.user_audio import load_recordings

RATE = 16000
PITCH = {"a": 300.0, "b": 700.0, "c": 1500.0}  # Hz per letter
TONE = 0.15  # seconds per letter

LABELS = """\
data:
  task: audio-labels
  audio_dir: rec
  train: labels.tsv
  dev_fraction: 0.2
  test_fraction: 0.2
  n_mels: 16
model:
  arch: speech-encoder
  d_model: 8
  n_heads: 2
  layers: 1
  d_ff: 16
train:
  batch_size: 4
  eval_every: 2
  max_steps: 2
  threads: 1
  seed: 1
"""

TRANSCRIPTS = """\
data:
  task: audio-transcripts
  audio_dir: rec
  train: transcripts.tsv
  dev_fraction: 0.2
  test_fraction: 0.2
  n_mels: 16
  max_seconds: 2
model:
  arch: {arch}
train:
  batch_size: 4
  eval_every: 2
  max_steps: 2
  threads: 1
  seed: 1
"""
TRANSFORMER = "transformer\n  d_model: 8\n  n_heads: 2\n  enc_layers: 1\n  dec_layers: 1\n  d_ff: 16"
RNN = "rnn\n  frontend: conv\n  attention: bahdanau\n  emb_dim: 8\n  hidden_dim: 8\n  attn_dim: 8"


def _record(folder: Path, n: int = 15) -> list[tuple[str, str]]:
    """`n` WAV files in `folder/rec` (16 kHz, float samples), each letter of its word a tone; the
    labels TSV says whether the word starts with "c", the transcripts TSV holds the word."""
    rng = np.random.default_rng(0)
    (folder / "rec").mkdir()
    words = []
    for i in range(n):
        word = "".join(rng.choice(list(PITCH), size=int(rng.integers(1, 4))))
        t = np.arange(int(RATE * TONE)) / RATE
        signal = np.concatenate([0.3 * np.sin(2 * np.pi * PITCH[c] * t) for c in word])
        soundfile.write(folder / "rec" / f"{i}.wav", (signal + 0.01 * rng.standard_normal(signal.size)), RATE)
        words.append((f"{i}.wav", word))
    labels = "".join(f"{f}\t{'high' if w[0] == 'c' else 'low'}\tspk{i % 2}\n" for i, (f, w) in enumerate(words))
    (folder / "labels.tsv").write_text(labels)
    (folder / "transcripts.tsv").write_text("".join(f"{f}\t{w}\n" for f, w in words))
    return words


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err, err
    return err.splitlines()[-1]


def test_recordings_with_labels_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    words = dict(_record(tmp_path))
    (tmp_path / "audio.yaml").write_text(LABELS)
    assert main(["train", "audio.yaml", "--out", "run", "--no-progress"]) == 0
    kept = {s: load_recordings(tmp_path / "run" / "data" / f"{s}.safetensors") for s in ("train", "dev", "test")}
    assert sorted(r.file for rs in kept.values() for r in rs) == sorted(words)
    for r in kept["test"]:
        samples = int(RATE * TONE) * len(words[r.file])
        assert r.frames.shape == (1 + (samples - 400) // 160, 16)  # 25 ms windows (400 samples), 10 ms hop
        assert r.target == ("high" if words[r.file][0] == "c" else "low")
    capsys.readouterr()
    assert main(["evaluate", "--model", "run", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == len(kept["test"]) and metrics["classes"] == ["high", "low"]
    assert set(metrics["by_voice"]) <= {"spk0", "spk1"}
    assert main(["evaluate", "--model", "run", "--detailed"]) == 0
    assert "  speaker spk0: " in capsys.readouterr().out
    assert main(["predict", "--model", "run", "rec/0.wav", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["kind"] == "spoken-word" and out["output"] in ("high", "low")


@pytest.mark.parametrize("arch", [TRANSFORMER, RNN], ids=["transformer", "rnn"])
def test_recordings_with_transcripts_through_the_cli(tmp_path, monkeypatch, capsys, arch):
    monkeypatch.chdir(tmp_path)
    _record(tmp_path)
    (tmp_path / "tr.yaml").write_text(TRANSCRIPTS.format(arch=arch))
    assert main(["train", "tr.yaml", "--out", "run", "--no-progress"]) == 0
    vocab = json.loads((tmp_path / "run" / "tgt_vocab.json").read_text())
    assert {"a", "b", "c"} <= set(json.dumps(vocab))
    capsys.readouterr()
    assert main(["evaluate", "--model", "run", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 3 and 0 <= metrics["chrf"] <= 100
    assert main(["predict", "--model", "run", "rec/1.wav", "--beam", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["kind"] == "spectrogram-alignment" and set(out["output"]) <= {"a", "b", "c"}


@pytest.mark.parametrize(
    "line, message",
    [
        ("missing.wav\tlow", "labels.tsv:16: rec/missing.wav: no such file"),
        ("notes.wav\tlow", "labels.tsv:16: rec/notes.wav: not an audio file libsndfile can read"),
        ("3.wav\tlow", "labels.tsv:16: 3.wav is named twice (first on line 4)"),
        ("4.wav", "labels.tsv:16: 1 tab-separated field, expected FILE<TAB>LABEL<TAB>SPEAKER"),
    ],
)
def test_a_bad_line_is_one_line_naming_the_tsv_line_and_file(tmp_path, monkeypatch, capsys, line, message):
    monkeypatch.chdir(tmp_path)
    _record(tmp_path)
    (tmp_path / "rec" / "notes.wav").write_text("not a recording")
    with open(tmp_path / "labels.tsv", "a") as fh:
        fh.write(line + "\n")
    (tmp_path / "audio.yaml").write_text(LABELS)
    assert main(["train", "audio.yaml", "--out", "run", "--no-progress"]) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "run").exists()
