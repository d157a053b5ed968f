"""The speaker-id task through the spine: texts held out and voices never; train -> evaluate ->
predict a WAV the test writes, with its picture; one-line errors for bad voices and texts."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from attnkit.cli import main
from attnkit.config import load_config
from attnkit.errors import ConfigError
from attnkit.tasks.speaker_id import split_texts

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)

VOICES = ["en+m1", "en+m3", "en+f1"]
TEXTS = ["apple", "river", "garden", "window", "good morning", "yellow"]

CONFIG = """\
data:
  task: speaker-id
  texts: {texts}
  voices: {voices}
  speeds: [160]
  pitches: [50]
  dev_texts: 1
  test_texts: 2
  cache: {cache}
model:
  arch: speech-encoder
  d_model: 32
  n_heads: 2
  layers: 1
  d_ff: 32
train:
  batch_size: 4
  max_steps: 4
  eval_every: 2
  threads: 1
"""


def _config(root, *, texts=TEXTS, voices=VOICES) -> str:
    return CONFIG.format(texts=json.dumps(texts), voices=json.dumps(voices), cache=root / "cache")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("speaker")
    (root / "tiny.yaml").write_text(_config(root))
    assert main(["--quiet", "train", str(root / "tiny.yaml"), "--out", str(root / "run")]) == 0
    return root


def test_split_holds_out_texts_never_voices(run):
    info = json.loads((run / "run" / "dataset.json").read_text())
    texts = info["texts"]
    assert sorted(texts["train"] + texts["dev"] + texts["test"]) == sorted(TEXTS)
    assert (len(texts["train"]), len(texts["dev"]), len(texts["test"])) == (3, 1, 2)
    assert info["classes"] == VOICES
    for split, rows in info["splits"].items():
        # every voice speaks every text of its split once, and only the split's texts
        assert sorted((r["voice"], r["text"]) for r in rows) == sorted((v, t) for v in VOICES for t in texts[split])
        assert all(VOICES[r["label"]] == r["voice"] for r in rows)
        assert all((run / "cache" / r["file"]).is_file() and len(r["sha256"]) == 64 for r in rows)
    heard = {r["text"] for r in info["splits"]["train"]}
    assert heard.isdisjoint(r["text"] for r in info["splits"]["dev"] + info["splits"]["test"])


def test_split_texts_is_a_seeded_partition():
    texts = [f"word {i}" for i in range(40)]
    a, b, c = split_texts(texts, 5, 7, seed=1), split_texts(texts, 5, 7, seed=1), split_texts(texts, 5, 7, seed=2)
    assert a == b and a["test"] != c["test"]
    assert (len(a["dev"]), len(a["test"]), len(a["train"])) == (5, 7, 28)
    assert sorted(a["train"] + a["dev"] + a["test"]) == sorted(texts)
    assert a["test"] == [t for t in texts if t in a["test"]]  # kept in the given order


def test_evaluate_and_predict_a_written_wav_with_its_attention_picture(run, tmp_path, capsys):
    assert main(["evaluate", "--model", str(run / "run"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 2 * len(VOICES) and 0 <= metrics["accuracy"] <= 1
    assert metrics["classes"] == VOICES and len(metrics["confusion"]) == len(VOICES)
    # a recording none of the splits holds: another text, stereo at 44.1 kHz
    subprocess.run(["espeak-ng", "-v", "en+f1", "-w", str(tmp_path / "mono.wav"), "a brand new sentence"], check=True)
    x, sr = soundfile.read(tmp_path / "mono.wav")
    import librosa

    y = librosa.resample(x, orig_sr=sr, target_sr=44100)
    soundfile.write(tmp_path / "rec.wav", np.stack([y, 0.5 * y], 1), 44100)
    plot = tmp_path / "out.png"
    args = ["predict", "--model", str(run / "run"), str(tmp_path / "rec.wav")]
    assert main([*args, "--attention-plot", str(plot)]) == 0
    line = capsys.readouterr().out.strip()  # the three most probable voices, e.g. "en+f1 62.3%, en+m3 26.6%, ..."
    assert [part.split(" ")[0] for part in line.split(", ")][0] in VOICES and line.count("%") == 3
    assert plot.stat().st_size > 0
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "spoken-word" and record["output"] == line.split(" ")[0]
    pool = np.array(record["pool"]["data"])
    conv = lambda n: (n - 3) // 2 + 1  # a 3-wide convolution of stride 2, no padding  # noqa: E731
    assert abs(pool.sum() - 1) < 1e-3 and len(pool) == conv(conv(record["frames"]["shape"][0]))


def test_prediction_names_the_most_probable_voice(run, tmp_path):
    from attnkit.training import load_run

    loaded = load_run(run / "run")
    subprocess.run(["espeak-ng", "-v", "en+m3", "-w", str(tmp_path / "a.wav"), "blue sky"], check=True)
    (pred,) = loaded.task.predict(loaded.model, [str(tmp_path / "a.wav")])
    probs = np.array(pred.probabilities)
    assert pred.classes == VOICES and abs(probs.sum() - 1) < 1e-5
    assert pred.output == VOICES[int(np.argmax(probs))] and pred.probability == probs.max()
    assert loaded.capabilities.task.max_seconds == 30.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"voices": ["en+m1", "en+zz"]}, "no voice variant 'zz'"),
        ({"voices": ["xx+m1", "en+m1"]}, "no language 'xx'"),
        ({"voices": ["en+m1"]}, "at least two different voices"),
        ({"texts": []}, "data.texts is empty"),
        ({"texts": ["apple", "  ", "river", "garden", "window"]}, "empty text"),
        ({"texts": ["apple", "Apple", "river", "garden", "window"]}, "repeats 'apple'"),
        ({"texts": ["apple", "river", "garden"]}, "3 texts cannot give 1 dev and 2 test texts"),
    ],
)
def test_bad_voices_or_texts_are_one_line_config_errors(tmp_path, change, message):
    path = tmp_path / "bad.yaml"
    path.write_text(_config(tmp_path, **change))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_bad_voice_stops_train_with_a_one_line_error(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(_config(tmp_path, voices=["en+m1", "en+zz"]))
    assert main(["train", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no voice variant 'zz'" in err and "\n" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_the_shipped_config_loads_with_twelve_voices_and_texts_held_out():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "speaker-id.yaml")
    assert cfg.data.task == "speaker-id" and cfg.model.arch == "speech-encoder"
    assert len(cfg.data.voices) == 12 and len(cfg.data.texts) == 100
    assert (cfg.data.dev_texts, cfg.data.test_texts) == (15, 15)


def test_without_espeak_the_config_loads_and_building_names_the_package(monkeypatch, tmp_path):
    from attnkit.data import speech
    from attnkit.data.speech import EspeakMissing
    from attnkit.tasks import TASKS

    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    speech.espeak_languages.cache_clear(), speech.espeak_variants.cache_clear()
    try:
        cfg = load_config(None, ["data.task=speaker-id", f"data.cache={tmp_path}"])
        with pytest.raises(EspeakMissing, match=r"`apt-get install espeak-ng`$"):
            TASKS.get("speaker-id").build(cfg.data, tmp_path / "run")
    finally:
        speech.espeak_languages.cache_clear(), speech.espeak_variants.cache_clear()


def test_the_explorer_answers_an_uploaded_recording_with_every_voice_probability(run, tmp_path):
    import base64

    from attnkit.explore import RunRegistry, create_app

    subprocess.run(["espeak-ng", "-v", "en+f1", "-w", str(tmp_path / "up.wav"), "thank you"], check=True)
    client = create_app(RunRegistry.load([run / "run"])).test_client()
    body = {"audio": base64.b64encode((tmp_path / "up.wav").read_bytes()).decode()}
    answer = client.post("/api/runs/run/predict", json=body).json
    assert answer["kind"] == "spoken-word" and answer["output"] in VOICES
    assert answer["fields"]["classes"] == VOICES and abs(sum(answer["fields"]["probabilities"]) - 1) < 1e-5
    assert answer["view"]["pool"] is not None and answer["view"]["seconds"] > 0


def test_a_recording_over_30_s_is_refused_from_its_header(run, tmp_path, capsys):
    soundfile.write(tmp_path / "long.wav", np.zeros(31 * 8000, dtype=np.int16), 8000)
    assert main(["predict", "--model", str(run / "run"), str(tmp_path / "long.wav")]) != 0
    err = capsys.readouterr().err.strip()
    assert "31.0 s is longer than the 30 s" in err and "\n" not in err


@pytest.mark.slow
def test_a_male_and_a_female_voice_are_told_apart_on_unheard_texts(tmp_path, capsys):
    texts = ["apple", "river", "garden", "window", "yellow", "morning", "pocket", "silver", "table", "music"]
    texts += ["orange", "basket", "winter", "summer"]
    config = _config(tmp_path, texts=texts, voices=["en+m1", "en+f3"]).replace("pitches: [50]", "pitches: [40, 60]")
    config = config.replace("max_steps: 4", "max_steps: 150").replace("eval_every: 2", "eval_every: 150")
    config = config.replace("dev_texts: 1", "dev_texts: 2").replace("test_texts: 2", "test_texts: 4")
    (tmp_path / "two.yaml").write_text(config)
    assert main(["--quiet", "train", str(tmp_path / "two.yaml"), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()  # what training printed
    assert main(["evaluate", "--model", str(tmp_path / "run"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 4 * 2 * 2 and metrics["accuracy"] >= 0.9  # chance: 0.5
