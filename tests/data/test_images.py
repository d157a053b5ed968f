"""attnkit.data.images: reading picture files, stratified draws, pixel digests and the canvas cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnkit.data.canvas import make_canvases, transform_columns
from attnkit.data.images import CanvasCache, pixel_digest, read_image, split_indices, stratified_indices
from attnkit.errors import InputError


def _png(path: Path, pixels: np.ndarray) -> str:
    Image.fromarray(pixels).save(path)
    return str(path)


def _items(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 3


ARGS = dict(size=44, seed=5, max_angle=30.0, scale=(0.8, 1.1), n_clutter=2, clutter_size=6)


def test_read_image_inverts_dark_on_light_pictures(tmp_path):
    picture = np.full((40, 40), 255, np.uint8)
    picture[10:30, 10:30] = 0  # a dark square on white, as a photo would be
    x = read_image(_png(tmp_path / "photo.png", picture), (28, 28))
    assert x.shape == (28, 28) and x[14, 14] == pytest.approx(1.0) and x[0, 0] == pytest.approx(0.0)
    assert read_image(tmp_path / "photo.png", (28, 28), invert="no")[14, 14] == pytest.approx(0.0)
    light = read_image(_png(tmp_path / "item.png", 255 - picture), (20, 30))  # light on black: kept
    assert light.shape == (20, 30) and light[10, 15] == pytest.approx(1.0)


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.png: no such file"):
        read_image(tmp_path / "missing.png", (28, 28))
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(InputError, match="not an image Pillow can read"):
        read_image(tmp_path / "text.png", (28, 28))


def test_stratified_indices_keep_every_class_share():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])  # shares 0.4, 0.3, 0.2, 0.1
    picked = stratified_indices(labels, 20, np.random.default_rng(0))
    assert np.bincount(labels[picked], minlength=4).tolist() == [8, 6, 4, 2]
    assert (np.diff(picked) > 0).all()  # sorted, no repeats
    odd = stratified_indices(labels, 7, np.random.default_rng(1))  # quotas 2.8, 2.1, 1.4, 0.7
    assert np.bincount(labels[odd], minlength=4).tolist() == [3, 2, 1, 1]  # largest remainders get one more


def test_split_indices_hold_dev_out_of_train_and_subset_every_part_by_class():
    train_labels, test_labels = np.repeat(np.arange(5), 40), np.repeat(np.arange(5), 10)
    parts = split_indices(train_labels, test_labels, seed=3, dev_size=50, train_size=100, test_size=20)
    assert {k: len(v) for k, v in parts.items()} == {"train": 100, "dev": 50, "test": 20}
    assert not set(parts["train"]) & set(parts["dev"])
    for name, labels, n in (("train", train_labels, 20), ("dev", train_labels, 10), ("test", test_labels, 4)):
        assert np.bincount(labels[parts[name]], minlength=5).tolist() == [n] * 5
    whole = split_indices(train_labels, test_labels, seed=3, dev_size=50)  # 0 = all the rest, all of test
    assert len(whole["train"]) == 150 and len(whole["test"]) == 50
    np.testing.assert_array_equal(whole["dev"], parts["dev"])  # the dev draw comes first: same seed, same dev
    again = split_indices(train_labels, test_labels, seed=3, dev_size=50, train_size=100, test_size=20)
    assert all(np.array_equal(again[k], parts[k]) for k in parts)


def test_pixel_digest_is_the_sha256_of_the_bytes_in_order():
    a, b = np.arange(6, dtype=np.uint8).reshape(2, 3), np.array([7, 8], dtype=np.int64)
    assert pixel_digest(a, b) == hashlib.sha256(a.tobytes() + b.tobytes()).hexdigest()
    assert pixel_digest(a.T.copy().T) == pixel_digest(a)  # layout does not matter, C order is hashed
    assert pixel_digest(a, b) != pixel_digest(b, a)


def test_canvas_cache_gives_what_make_canvases_makes_and_makes_it_once():
    images, labels = _items()
    cache = CanvasCache()
    first = cache.canvases(images, labels, **ARGS)
    direct = make_canvases(images, labels, **ARGS)
    np.testing.assert_array_equal(first.images, direct.images)
    np.testing.assert_array_equal(first.labels, direct.labels)
    assert first.transforms == transform_columns(direct.transforms)
    again = cache.canvases(images.copy(), labels.copy(), **ARGS)  # equal bytes, other arrays: a hit
    assert again.images is first.images and cache.made == 1
    cache.canvases(images, labels, **{**ARGS, "seed": 6})  # another seed: made
    other = images.copy()
    other[0, 0, 0] ^= 1
    cache.canvases(other, labels, **ARGS)  # one pixel differs: made
    assert cache.made == 3 and len(cache) == 3


def test_canvas_cache_drops_the_least_recently_used_set():
    images, labels = _items()
    cache = CanvasCache(capacity=2)
    a = cache.canvases(images, labels, **ARGS)
    cache.canvases(images, labels, **{**ARGS, "seed": 6})
    cache.canvases(images, labels, **ARGS)  # a is used again: now the newest
    cache.canvases(images, labels, **{**ARGS, "seed": 7})  # drops seed 6
    assert len(cache) == 2 and cache.made == 3
    assert cache.canvases(images, labels, **ARGS) is a and cache.made == 3
    cache.canvases(images, labels, **{**ARGS, "seed": 6})
    assert cache.made == 4
    with pytest.raises(ValueError, match="at least 1 set"):
        CanvasCache(capacity=0)
