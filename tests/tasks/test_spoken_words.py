"""The spoken-words task through the spine: train -> evaluate -> predict a WAV with a picture;
voices held out; the run's recordings checked; one-line errors for bad files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile

from attnkit.cli import main
from attnkit.config import load_config
from attnkit.errors import ConfigError

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)

CONFIG = """\
data:
  task: spoken-words
  words: [one, two, three]
  voices: [en+m1, en+m3, en+f1, en+f2]
  speeds: [160]
  pitches: [50]
  dev_voices: 1
  test_voices: 1
  cache: {cache}
model:
  arch: speech-encoder
  d_model: 32
  n_heads: 2
  layers: 1
  d_ff: 32
train:
  batch_size: 4
  max_steps: 6
  eval_every: 3
  threads: 1
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("spoken")
    (root / "tiny.yaml").write_text(CONFIG.format(cache=root / "cache"))
    assert main(["--quiet", "train", str(root / "tiny.yaml"), "--out", str(root / "run")]) == 0
    return root


def test_the_run_holds_out_whole_voices_and_records_every_file(run):
    info = json.loads((run / "run" / "dataset.json").read_text())
    voices = info["voices"]
    assert sorted(voices["train"] + voices["dev"] + voices["test"]) == ["en+f1", "en+f2", "en+m1", "en+m3"]
    assert len(voices["test"]) == 1 and voices["test"][0] not in voices["train"]
    test = info["splits"]["test"]
    assert len(test) == 3 and {r["voice"] for r in test} == set(voices["test"])
    assert {r["text"] for r in test} == {"one", "two", "three"}
    assert all((run / "cache" / r["file"]).is_file() and len(r["sha256"]) == 64 for r in test)


def test_evaluate_and_predict_a_recording_with_its_attention_picture(run, tmp_path, capsys):
    assert main(["evaluate", "--model", str(run / "run"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 3 and 0 <= metrics["accuracy"] <= 1 and len(metrics["by_voice"]) == 1
    # a user's recording: another voice, stereo, 44.1 kHz, read and resampled
    (tmp_path / "mono.wav").unlink(missing_ok=True)
    import subprocess

    subprocess.run(["espeak-ng", "-v", "en+m7", "-w", str(tmp_path / "mono.wav"), "two"], check=True)
    x, sr = soundfile.read(tmp_path / "mono.wav")
    import librosa

    y = librosa.resample(x, orig_sr=sr, target_sr=44100)
    soundfile.write(tmp_path / "rec.wav", np.stack([y, y], 1), 44100)
    plot = tmp_path / "out.png"
    args = ["predict", "--model", str(run / "run"), str(tmp_path / "rec.wav"), "--top-k", "0"]
    assert main([*args, "--attention-plot", str(plot)]) == 0
    assert capsys.readouterr().out.strip() in {"one", "two", "three"}
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_non_audio_and_empty_files_are_one_line_errors(run, tmp_path, capsys):
    (tmp_path / "notes.wav").write_text("not sound")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0), 16000)
    for name, message in (("notes.wav", "not an audio file"), ("empty.wav", "holds no samples")):
        assert main(["predict", "--model", str(run / "run"), str(tmp_path / name)]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_changed_recording_is_refused(run):
    from attnkit.tasks.spoken_words import SpokenWordsTask

    info = json.loads((run / "run" / "dataset.json").read_text())
    victim = run / "cache" / info["splits"]["dev"][0]["file"]
    original = victim.read_bytes()
    try:
        victim.write_bytes(original[:-4] + b"\1\2\3\4")
        with pytest.raises(ConfigError, match="differs from the recording this run was trained on"):
            SpokenWordsTask.load_split(run / "run", "dev")
    finally:
        victim.write_bytes(original)
    assert len(SpokenWordsTask.load_split(run / "run", "dev")) == 3


def test_config_refuses_unknown_voices_and_too_few_voices(tmp_path):
    with pytest.raises(ConfigError, match="no voice variant 'm99'"):
        load_config(
            None,
            ["data.task=spoken-words", "data.voices=[en+m1, en+m99, en+f1]", "data.dev_voices=1", "data.test_voices=1"],
        )
    with pytest.raises(ConfigError, match="at least one to train on"):
        load_config(
            None, ["data.task=spoken-words", "data.voices=[en+m1, en+f1]", "data.dev_voices=1", "data.test_voices=1"]
        )
