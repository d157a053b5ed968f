"""Spoken dates through the spine: train (location-aware attention over a pyramidal listener) ->
evaluate (exact match, monotonicity) -> predict a WAV with its alignment over the spectrogram;
the Transformer and Bahdanau attention decode through the same task; held-out voices."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import torch

from attnkit.cli import main
from attnkit.config import load_config
from attnkit.decoding import DecodeOptions
from attnkit.errors import ConfigError
from attnkit.models import FAMILIES, RNNConfig, TransformerConfig
from attnkit.tasks.spoken_dates import SpokenDatesTask

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)

CONFIG = """\
data:
  task: spoken-dates
  n_train: 8
  n_dev: 3
  n_test: 3
  locales: [en_US, de_DE]
  variants: [m1, m3, f1, f2]
  dev_variants: 1
  test_variants: 1
  speeds: [190]
  pitches: [50]
  cache: {cache}
  n_mels: 40
model:
  arch: rnn
  attention: location-aware
  emb_dim: 8
  hidden_dim: 16
  attn_dim: 16
  enc_layers: 3
  loc_kernel: 5
train:
  batch_size: 4
  max_steps: 2
  eval_every: 2
  threads: 1
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("spoken-dates")
    (root / "tiny.yaml").write_text(CONFIG.format(cache=root / "cache"))
    assert main(["--quiet", "train", str(root / "tiny.yaml"), "--out", str(root / "run")]) == 0
    return root


def test_splits_hold_out_voices_and_keep_the_dates(run):
    info = json.loads((run / "run" / "dataset.json").read_text())
    held = set(info["variants"]["test"])
    rows = [json.loads(line) for line in (run / "run" / "data" / "test.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for r in rows:
        assert r["utterance"]["text"] == r["date"]["text"] and r["utterance"]["voice"].split("+")[1] in held
        assert r["utterance"]["voice"].split("+")[0] == {"en_US": "en-us", "de_DE": "de"}[r["date"]["locale"]]
    train = [json.loads(line) for line in (run / "run" / "data" / "train.jsonl").read_text().splitlines()]
    assert not {r["utterance"]["voice"].split("+")[1] for r in train} & held


def test_evaluate_and_predict_with_the_alignment_picture(run, tmp_path, capsys):
    assert main(["evaluate", "--model", str(run / "run"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 3 and 0 <= metrics["forward_moves"] <= metrics["monotonicity"] <= 1
    assert metrics["n_steps"] >= 3 * 10
    assert set(metrics["by_locale"]) <= {"en_US", "de_DE"}
    subprocess.run(["espeak-ng", "-v", "de+m7", "-w", str(tmp_path / "rec.wav"), "3. Mai 1979"], check=True)
    plot = tmp_path / "a.png"
    assert (
        main(
            [
                "predict",
                "--model",
                str(run / "run"),
                str(tmp_path / "rec.wav"),
                "--beam",
                "2",
                "--attention-plot",
                str(plot),
            ]
        )
        == 0
    )
    assert len(capsys.readouterr().out.strip()) <= 10
    assert plot.read_bytes().startswith(b"\x89PNG")
    (tmp_path / "empty.wav").write_bytes(b"")
    assert main(["predict", "--model", str(run / "run"), str(tmp_path / "empty.wav")]) == 1
    err = capsys.readouterr().err.strip()
    assert "not an audio file" in err and len(err.splitlines()) == 1


def test_transformer_and_bahdanau_decode_through_the_same_task(run):
    cfg = load_config(str(run / "tiny.yaml"))
    task = SpokenDatesTask.load(cfg.data, run / "run")
    dev = SpokenDatesTask.load_split(run / "run", "dev")
    torch.manual_seed(0)
    for family, model_cfg in (
        ("transformer", TransformerConfig(d_model=16, n_heads=2, d_ff=16)),
        ("rnn", RNNConfig(attention="bahdanau", emb_dim=8, hidden_dim=8, attn_dim=8)),
    ):
        model = FAMILIES.get(family).build(model_cfg, task.spec)
        metrics, preds = task.evaluate(model, dev, decode=DecodeOptions(beam_size=2))
        assert metrics["n"] == 3 and "monotonicity" in metrics
        n = int(model.memory_lengths(torch.tensor([len(dev[0].frames)]))[0])
        assert preds[0].weights.shape[-1] == n
    greedy, _ = task.evaluate(model, dev, decode=None)  # None: greedy, as DecodeOptions() is
    assert greedy == task.evaluate(model, dev, decode=DecodeOptions())[0]


def test_config_refuses_a_locale_espeak_does_not_speak():
    with pytest.raises(ConfigError, match="cannot be spoken"):
        load_config(None, ["data.task=spoken-dates", "data.locales=[ja_JP]"])


def test_field_accuracy_counts_each_field_and_the_characters_in_place():
    from attnkit.tasks.spoken_dates import field_accuracy

    scores = field_accuracy(
        ["2019-03-05", "2019-04-05", "20", ""], ["2019-03-05", "2018-03-05", "2019-03-05", "1999-12-31"]
    )
    assert scores["year_accuracy"] == 1 / 4  # "2019" only in the first
    assert scores["month_accuracy"] == 1 / 4 and scores["day_accuracy"] == 2 / 4
    assert scores["char_accuracy"] == pytest.approx((10 + 8 + 2 + 0) / 10 / 4)
    assert field_accuracy([], []) == {
        "year_accuracy": 0.0,
        "month_accuracy": 0.0,
        "day_accuracy": 0.0,
        "char_accuracy": 0.0,
    }
    with pytest.raises(ValueError, match="outputs for"):
        field_accuracy(["x"], [])
