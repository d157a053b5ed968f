"""``image-folder`` on a folder of pictures the test draws with Pillow: train (cnn, vit), evaluate
and predict through the CLI; the run keeps the pixels Pillow's own conversion and bilinear resize
give; a folder split into train/dev/test is used as it is; a file that is not an image is a
one-line error naming it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.numpy import load_file

from attnkit.cli import main
from attnkit.training import load_run

CNN = """\
model:
  arch: cnn
  attention: cbam
  channels: [4, 8]
  reduction: 2
"""
VIT = """\
model:
  arch: vit
  patch_size: 4
  d_model: 8
  n_heads: 2
  layers: 1
  d_ff: 16
"""
CONFIG = """\
data:
  task: image-folder
  root: shapes
  size: [12, 16]
  channels: {channels}
  dev_fraction: 0.2
  test_fraction: 0.2
{model}train:
  batch_size: 8
  eval_every: 2
  max_steps: 2
  threads: 1
  seed: 1
"""


def _draw(folder: Path, n: int, seed: int = 0) -> None:
    """`n` pictures each of circles and squares, PNG and JPEG, in class folders under `folder`."""
    rng = random.Random(seed)
    for name in ("circle", "square"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = Image.new("RGB", (40, 30), (255, 255, 255))
            x, y, s = rng.randint(2, 18), rng.randint(2, 10), rng.randint(10, 16)
            colour = (rng.randint(0, 200), rng.randint(0, 200), rng.randint(0, 200))
            draw = ImageDraw.Draw(img)
            (draw.ellipse if name == "circle" else draw.rectangle)([x, y, x + s, y + s], fill=colour)
            img.save(folder / name / f"{i}.{'png' if i % 2 else 'jpg'}")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err, err
    return err.splitlines()[-1]


@pytest.mark.parametrize("model, channels", [(CNN, 1), (VIT, 3)], ids=["cnn-grey", "vit-rgb"])
def test_an_image_folder_through_the_cli(tmp_path, monkeypatch, capsys, model, channels):
    monkeypatch.chdir(tmp_path)
    _draw(tmp_path / "shapes", 10)
    (tmp_path / "images.yaml").write_text(CONFIG.format(channels=channels, model=model))
    assert main(["train", "images.yaml", "--out", "run", "--no-progress"]) == 0
    saved = {s: load_file(str(tmp_path / "run" / "data" / f"{s}.safetensors")) for s in ("train", "dev", "test")}
    assert [len(saved[s]["labels"]) for s in ("train", "dev", "test")] == [12, 4, 4]  # 20 % of each class's 10
    # the pixels kept are Pillow's conversion and bilinear resize of each file, (C, H, W)
    files = json.loads(_files(tmp_path / "run" / "data" / "test.safetensors"))
    for k, name in enumerate(files):
        with Image.open(tmp_path / "shapes" / name) as img:
            expected = np.asarray(img.convert("RGB" if channels == 3 else "L").resize((16, 12), Image.BILINEAR))
        got = saved["test"]["images"][k]
        np.testing.assert_array_equal(got, expected.transpose(2, 0, 1) if channels == 3 else expected[None])
        assert saved["test"]["labels"][k] == ["circle", "square"].index(Path(name).parts[0])
    capsys.readouterr()
    assert main(["evaluate", "--model", "run", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 4 and metrics["classes"] == ["circle", "square"]
    picture = tmp_path / "shapes" / "circle" / "1.png"
    assert main(["predict", "--model", "run", str(picture), "--json", "--attention-plot", "maps.png"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["kind"] == "image-overlay" and out["output"] in ("circle", "square") and out["maps"]
    assert (tmp_path / "maps.png").is_file()
    if (
        model == VIT
    ):  # the declared pixel pipeline: the exported checkpoint gives the same probabilities in transformers
        transformers = pytest.importorskip("transformers")
        assert main(["export-hf", "run", "--out", "hf"]) == 0
        hf = transformers.ViTForImageClassification.from_pretrained(str(tmp_path / "hf")).eval()
        processor = transformers.ViTImageProcessor.from_pretrained(str(tmp_path / "hf"))
        with Image.open(picture) as img, torch.no_grad():
            p = hf(**processor(img, return_tensors="pt")).logits.softmax(-1)[0]
        run = load_run(tmp_path / "run")
        ours = run.task.predict(run.model, [str(picture)])[0].probabilities
        torch.testing.assert_close(p, torch.tensor(ours), atol=1e-5, rtol=0)


def _files(path: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as fh:
        return (fh.metadata() or {})["files"]


def test_a_split_folder_is_used_as_it_is(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for split, n in (("train", 4), ("dev", 2), ("test", 3)):
        _draw(tmp_path / "shapes" / split, n, seed=len(split))
    (tmp_path / "images.yaml").write_text(CONFIG.format(channels=3, model=CNN))
    assert main(["train", "images.yaml", "--out", "run", "--no-progress"]) == 0
    for split, n in (("train", 4), ("dev", 2), ("test", 3)):
        assert json.loads(_files(tmp_path / "run" / "data" / f"{split}.safetensors"))[0].startswith(f"{split}/")
        assert len(load_file(str(tmp_path / "run" / "data" / f"{split}.safetensors"))["labels"]) == 2 * n
    (tmp_path / "shapes" / "test" / "triangle").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "shapes" / "test" / "triangle" / "0.png")
    assert main(["train", "images.yaml", "--out", "run2", "--no-progress"]) == 2
    assert "class folder 'triangle' is not among train's (circle, square)" in _error_line(capsys)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", b"not a picture", "not an image Pillow can read"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "not an image Pillow can read"),
    ],
)
def test_a_file_that_is_no_image_is_one_line_naming_it(tmp_path, monkeypatch, capsys, name, content, message):
    monkeypatch.chdir(tmp_path)
    _draw(tmp_path / "shapes", 4)
    (tmp_path / "shapes" / "square" / name).write_bytes(content)
    (tmp_path / "images.yaml").write_text(CONFIG.format(channels=3, model=CNN))
    assert main(["train", "images.yaml", "--out", "run", "--no-progress"]) == 2
    line = _error_line(capsys)
    assert f"shapes/square/{name}: {message}" in line
    assert not (tmp_path / "run").exists()
