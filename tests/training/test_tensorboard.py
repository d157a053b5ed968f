"""train.tensorboard: a tiny run writes TensorBoard event files with the loss, the learning rate,
every validation metric and the attention pictures of fixed dev examples (issue 31, item 6),
read back with TensorBoard's own EventAccumulator; without the package, a one-line error."""

from __future__ import annotations

import importlib.util
import io
import json

import numpy as np
import pytest
from PIL import Image

from attnkit.cli import main

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

CONFIG = """
data: {task: dates, n_train: 200, n_dev: 20, n_test: 20, locales: [en_US]}
model: {arch: rnn, attention: bahdanau, emb_dim: 8, hidden_dim: 16, attn_dim: 8}
train: {max_steps: 6, batch_size: 32, eval_every: 3, patience: 100, threads: 1, seed: 3, tensorboard: true}
"""


def test_a_tiny_run_logs_scalars_and_attention_pictures(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--no-progress"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = events.Tags()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 7))
    assert [e.step for e in events.Scalars("train/lr")] == list(range(1, 7))
    dev_metrics = {k[4:] for k in records[0] if k.startswith("dev_")}
    assert dev_metrics and {f"dev/{m}" for m in dev_metrics} <= set(tags["scalars"])
    for record in records:  # the numbers of metrics.jsonl, at the validation steps
        for key, value in record.items():
            if key.startswith("dev_"):
                (event,) = [e for e in events.Scalars(f"dev/{key[4:]}") if e.step == record["step"]]
                assert event.value == pytest.approx(value, rel=1e-6)
        (score,) = [e for e in events.Scalars("validation/score") if e.step == record["step"]]
        assert score.value == pytest.approx(record["score"], rel=1e-6)
    assert {"attention/0", "attention/1", "attention/2"} <= set(tags["images"])
    pictures = events.Images("attention/0")
    assert [p.step for p in pictures] == [3, 6]
    image = np.asarray(Image.open(io.BytesIO(pictures[-1].encoded_image_string)))
    assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0  # a drawn heatmap, not blank


def test_tensorboard_without_the_package_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert "pip install 'attnkit[tensorboard]'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_replaces_what_the_interrupted_one_logged_after_its_checkpoint(tmp_path):
    from attnkit.training.tensorboard import TensorBoardLog

    folder = tmp_path / "tensorboard"
    first = TensorBoardLog(folder, task=None, examples=[], render=None)
    for step in range(1, 7):  # killed after step 6, its last checkpoint at step 3
        first.step(step, 1.0, 0.1)
    first.close()
    resumed = TensorBoardLog(folder, task=None, examples=[], render=None)
    for step in range(4, 9):
        resumed.step(step, 2.0, 0.1)
    resumed.close()
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [
        (s, 1.0 if s < 4 else 2.0) for s in range(1, 9)
    ]
