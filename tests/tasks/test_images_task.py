"""The Fashion-MNIST tasks on the real Debian files: stratified splits, the run folder's record,
reloading with checks, normalised batches, evaluation, prediction from image files with the
model's attention, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnkit.config import TrainConfig
from attnkit.data.fashion_mnist import FASHION_MNIST_DIR
from attnkit.data.images import CanvasCache
from attnkit.errors import ConfigError, InputError
from attnkit.models import FAMILIES, CNNConfig, ViTConfig
from attnkit.tasks import TASKS
from attnkit.tasks.base import LossContext
from attnkit.tasks.images import CanvasConfig, FashionConfig

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)

SMALL = dict(dev_size=100, train_size=300, test_size=50)


def test_splits_are_stratified_disjoint_and_recorded(tmp_path):
    task_cls = TASKS.get("fashion-mnist")
    task, splits = task_cls.build(FashionConfig(**SMALL), tmp_path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 300, "dev": 100, "test": 50}
    for split, n in (("train", 30), ("dev", 10), ("test", 5)):
        assert np.bincount([e.label for e in splits[split]], minlength=10).tolist() == [n] * 10
    train_idx, dev_idx = {e.index for e in splits["train"]}, {e.index for e in splits["dev"]}
    assert not train_idx & dev_idx  # dev is held out of the training images
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["classes"][0] == "T-shirt/top" and info["size"] == [28, 28]
    assert 0.2 < info["mean"] < 0.4 and 0.25 < info["std"] < 0.45  # published: 0.286 and 0.353
    assert set(info["source_sha256"]) == {"train", "test"}
    assert task.spec.channels == 1 and task.spec.n_classes == 10
    again = task_cls.load_split(tmp_path, "dev")
    assert [e.index for e in again] == [e.index for e in splits["dev"]]
    assert all(torch.equal(a.image, b.image) for a, b in zip(again, splits["dev"]))


def test_a_changed_source_is_refused_when_reloading(tmp_path):
    task_cls = TASKS.get("fashion-mnist")
    task_cls.build(FashionConfig(**SMALL), tmp_path)
    info = json.loads((tmp_path / "dataset.json").read_text())
    info["splits"]["test"]["sha256"] = "0" * 64
    (tmp_path / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(ConfigError, match="the test images differ from the ones this run was trained on"):
        task_cls.load_split(tmp_path, "test")


def test_missing_images_name_the_debian_package(tmp_path):
    with pytest.raises(ConfigError, match="apt-get install dataset-fashion-mnist"):
        TASKS.get("fashion-mnist").build(FashionConfig(root=str(tmp_path / "nowhere"), **SMALL), tmp_path / "run")


def test_canvases_keep_each_split_apart_and_reload_identically(tmp_path):
    cfg = CanvasConfig(**SMALL, n_clutter=3)
    task, splits = TASKS.get("fashion-canvas").build(cfg, tmp_path)
    assert tuple(splits["test"][0].image.shape) == (60, 60) and task.spec.height == 60
    record = json.loads((tmp_path / "data" / "test.json").read_text())
    assert len(record["transforms"]["angle"]) == 50
    assert all(len(c) == 3 for c in record["transforms"]["clutter"])
    again = TASKS.get("fashion-canvas").load_split(tmp_path, "test")
    assert all(torch.equal(a.image, b.image) for a, b in zip(again, splits["test"]))
    with pytest.raises(ConfigError, match="too small for items"):
        CanvasConfig(size=30).check()


def test_a_shared_canvas_cache_makes_each_split_once_and_gives_the_same_examples(tmp_path):
    cfg = CanvasConfig(**SMALL, n_clutter=2)
    task_cls = TASKS.get("fashion-canvas")
    cache = CanvasCache()
    _, splits = task_cls.build(cfg, tmp_path / "a", canvases=cache)
    assert cache.made == 3 and len(cache) == 3  # train, dev and test
    task_cls.build(cfg, tmp_path / "b", canvases=cache)  # a second run on the same data
    test = task_cls.load_split(tmp_path / "b", "test", canvases=cache)
    assert cache.made == 3  # nothing made again
    fresh = task_cls.load_split(tmp_path / "a", "test")  # no cache: made again, same bytes
    assert all(torch.equal(a.image, b.image) and a.label == b.label for a, b in zip(test, splits["test"]))
    assert all(torch.equal(a.image, b.image) for a, b in zip(fresh, splits["test"]))
    other = CanvasConfig(**SMALL, n_clutter=2, seed=99)
    task_cls.build(other, tmp_path / "c", canvases=cache)
    assert cache.made == 6 and len(cache) == 3  # another seed is other data; the oldest sets are dropped


def test_batches_are_normalised_and_the_loss_is_summed(tmp_path):
    task, splits = TASKS.get("fashion-mnist").build(FashionConfig(**SMALL), tmp_path)
    batch = task.collate(splits["train"])
    assert batch.images.shape == (300, 1, 28, 28) and batch.images.dtype == torch.float32
    assert abs(float(batch.images.mean())) < 0.05 and abs(float(batch.images.std()) - 1) < 0.05
    expected = (splits["train"][7].image.float() / 255 - task.mean) / task.std
    torch.testing.assert_close(batch.images[7, 0], expected)
    torch.manual_seed(0)
    model = FAMILIES.get("cnn").build(CNNConfig(channels=(4, 8)), task.spec)
    loss = task.loss(model, batch, LossContext(TrainConfig()))
    logits = model(batch.images).logits
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits, batch.labels, reduction="sum"))


def test_evaluate_gives_accuracy_and_the_confusion_matrix(tmp_path):
    task, splits = TASKS.get("fashion-mnist").build(FashionConfig(**SMALL), tmp_path)
    model = FAMILIES.get("cnn").build(CNNConfig(channels=(4, 8)), task.spec).eval()
    metrics, preds = task.evaluate(model, splits["test"], batch_size=7)
    logits = model(task.collate(splits["test"]).images).logits
    expected = (logits.argmax(-1) == torch.tensor([e.label for e in splits["test"]])).float().mean()
    assert metrics["accuracy"] == pytest.approx(float(expected))
    assert sum(map(sum, metrics["confusion"])) == 50 and metrics["classes"][9] == "Ankle boot"
    assert [p.output for p in preds] == [task.classes[k] for k in logits.argmax(-1).tolist()]
    assert task.evaluate(model, splits["test"], batch_size=7, decode=None)[0] == metrics  # accepted, ignored


def _png(path: Path, pixels: np.ndarray) -> str:
    Image.fromarray(pixels).save(path)
    return str(path)


@pytest.mark.parametrize(
    "family, cfg, kinds",
    [
        (
            "cnn",
            CNNConfig(channels=(4, 8), attention="cbam"),
            ["CBAM spatial gate, stage 1", "CBAM spatial gate, stage 2"],
        ),
        ("cnn", CNNConfig(channels=(4, 8), attention="nonlocal"), ["non-local: query pixel (1, 2)"]),
        (
            "vit",
            ViTConfig(d_model=8, n_heads=2, layers=2, d_ff=8),
            ["ViT attention rollout (class token)", "ViT last layer, class token"],
        ),
    ],
)
def test_predict_reads_image_files_and_returns_the_attention(tmp_path, family, cfg, kinds):
    task, splits = TASKS.get("fashion-mnist").build(FashionConfig(**SMALL), tmp_path)
    model = FAMILIES.get(family).build(cfg, task.spec).eval()
    example = splits["test"][0]
    path = _png(tmp_path / "item.png", example.image.numpy())
    options = {"invert": "no"} | ({"query": "1,2"} if cfg.arch == "cnn" and cfg.attention == "nonlocal" else {})
    (pred,) = task.predict(model, [path], options=options)
    probs = torch.softmax(model(task.collate([example]).images).logits, -1)[0]
    assert pred.output == task.classes[int(probs.argmax())]
    assert pred.probabilities == pytest.approx(probs.tolist(), abs=1e-6)
    assert list(pred.maps) == kinds and all(m.min() >= 0 for m in pred.maps.values())
    np.testing.assert_allclose(pred.image, example.image.numpy() / 255.0, atol=1e-6)


def test_a_spatial_transformer_prediction_carries_its_rectified_image(tmp_path):
    task, splits = TASKS.get("fashion-mnist").build(FashionConfig(**SMALL), tmp_path)
    model = FAMILIES.get("cnn").build(CNNConfig(channels=(4, 8), stn=True), task.spec).eval()
    (pred,) = task.predict(model, [_png(tmp_path / "a.png", splits["test"][3].image.numpy())])
    np.testing.assert_allclose(pred.rectified, pred.image, atol=1e-5)  # the identity at initialisation
    np.testing.assert_allclose(pred.theta, [[1, 0, 0], [0, 1, 0]], atol=1e-6)


def test_bad_inputs_are_one_line_errors_before_any_prediction(tmp_path):
    task, splits = TASKS.get("fashion-mnist").build(FashionConfig(**SMALL), tmp_path)
    model = FAMILIES.get("cnn").build(CNNConfig(channels=(4, 8), attention="nonlocal"), task.spec).eval()
    good = _png(tmp_path / "ok.png", splits["test"][0].image.numpy())
    (tmp_path / "text.png").write_text("not a picture")
    cases = [
        ([good, str(tmp_path / "missing.png")], {}, "no such file"),
        ([good, str(tmp_path / "text.png")], {}, "not an image Pillow can read"),
        ([good], {"colour": "red"}, "unknown option colour"),
        ([good], {"invert": "maybe"}, "choose auto, yes or no"),
        ([good], {"query": "3"}, "must look like ROW,COL"),
        ([good], {"query": "20,20"}, "outside the non-local map of 14 x 14"),
    ]
    for inputs, options, message in cases:
        with pytest.raises(InputError, match=message):
            task.predict(model, inputs, options=options)
