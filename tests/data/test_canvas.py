"""Cluttered canvases [Jaderberg15] Sec. 4.1: seeded, recorded, the item where its record says."""

import numpy as np
import pytest

from attnkit.data.canvas import load_canvases, make_canvases, save_canvases
from attnkit.errors import ConfigError, InputError


def _items(n=12, side=28, seed=0):
    """Pictures with a solid non-zero square filling the frame but for a 2-pixel black border."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, side, side), dtype=np.uint8)
    images[:, 2:-2, 2:-2] = rng.integers(40, 256, (n, side - 4, side - 4), dtype=np.uint8)
    return images, np.arange(n) % 10


def test_same_seed_same_bytes_other_seed_other_bytes():
    images, labels = _items()
    a, b = make_canvases(images, labels, seed=3), make_canvases(images, labels, seed=3)
    assert a.images.tobytes() == b.images.tobytes() and a.transforms == b.transforms
    assert make_canvases(images, labels, seed=4).images.tobytes() != a.images.tobytes()


def test_shapes_dtypes_and_records():
    images, labels = _items()
    c = make_canvases(images, labels.astype(np.uint8), size=50, n_clutter=3, clutter_size=5)
    assert c.images.shape == (12, 50, 50) and c.images.dtype == np.uint8
    assert c.labels.dtype == np.int64 and c.labels.tolist() == labels.tolist()
    assert len(c) == len(c.transforms) == 12 and c.boxes().shape == (12, 4)
    assert all(len(t.clutter) == 3 for t in c.transforms)
    assert c.params.size == 50 and c.params.clutter_from_self


def test_draws_lie_in_their_ranges_and_boxes_inside_the_canvas():
    images, labels = _items(200)
    c = make_canvases(images, labels, size=60, max_angle=30.0, scale=(0.8, 1.1), seed=1)
    angles = np.array([t.angle for t in c.transforms])
    scales = np.array([t.scale for t in c.transforms])
    assert -30 <= angles.min() < -20 and 20 < angles.max() <= 30
    assert 0.8 <= scales.min() < 0.85 and 1.05 < scales.max() <= 1.1
    boxes = c.boxes()
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 60).all()
    assert all(t.box[:2] == (t.x, t.y) for t in c.transforms)
    side = boxes[:, 2:] - boxes[:, :2]  # the box grows with the scale and with |angle| up to 45 degrees
    rad = np.radians(np.abs(angles))
    np.testing.assert_allclose(side[:, 0], 28 * scales * (np.cos(rad) + np.sin(rad)), atol=1.0)


def test_without_clutter_all_the_mass_is_inside_the_recorded_box():
    images, labels = _items(50)
    c = make_canvases(images, labels, n_clutter=0, seed=2)
    for canvas, (x0, y0, x1, y1), t in zip(c.images, c.boxes(), c.transforms):
        inside = canvas[y0:y1, x0:x1].astype(np.int64).sum()
        assert inside == canvas.astype(np.int64).sum() > 0
        assert t.clutter == ()
        # and the box is tight: each side is within the (scaled, rotated) 2-pixel black border
        rows, cols = np.nonzero(canvas)
        slack = 2 * t.scale * np.sqrt(2) + 1
        assert max(rows.min() - y0, y1 - 1 - rows.max(), cols.min() - x0, x1 - 1 - cols.max()) <= slack


def test_angle_0_and_scale_1_puts_the_exact_item_at_x_y():
    images, labels = _items(20)
    c = make_canvases(images, labels, max_angle=0.0, scale=(1.0, 1.0), n_clutter=0, size=40)
    assert len({(t.x, t.y) for t in c.transforms}) > 5  # the positions do vary
    for image, canvas, t in zip(images, c.images, c.transforms):
        assert t.angle == 0.0 and t.scale == 1.0 and t.box == (t.x, t.y, t.x + 28, t.y + 28)
        np.testing.assert_array_equal(canvas[t.y : t.y + 28, t.x : t.x + 28], image)
        outside = canvas.copy()
        outside[t.y : t.y + 28, t.x : t.x + 28] = 0
        assert not outside.any()


def test_clutter_comes_from_other_items_and_is_max_combined():
    images, labels = _items(5)
    c = make_canvases(images, labels, max_angle=0.0, scale=(1.0, 1.0), n_clutter=30, clutter_size=6, size=64)
    for i, (canvas, t) in enumerate(zip(c.images, c.transforms)):
        assert {p.source for p in t.clutter} <= set(range(5)) - {i}
        # the item's pixels are never overwritten by smaller clutter values
        assert (canvas[t.y : t.y + 28, t.x : t.x + 28] >= images[i]).all()
        expected = np.zeros((64, 64), dtype=np.uint8)
        expected[t.y : t.y + 28, t.x : t.x + 28] = images[i]
        for p in t.clutter:
            patch = images[p.source, p.crop_row : p.crop_row + 6, p.crop_col : p.crop_col + 6]
            np.maximum(expected[p.y : p.y + 6, p.x : p.x + 6], patch, out=expected[p.y : p.y + 6, p.x : p.x + 6])
        np.testing.assert_array_equal(canvas, expected)
    assert len({p.source for t in c.transforms for p in t.clutter}) == 5


def test_clutter_sources_replace_the_items_own_images():
    images, labels = _items(4)
    sources = np.full((3, 10, 10), 7, dtype=np.uint8)
    c = make_canvases(images, labels, clutter_sources=sources, n_clutter=5, clutter_size=4, seed=5)
    assert not c.params.clutter_from_self
    assert all(0 <= p.source < 3 and p.crop_row <= 6 for t in c.transforms for p in t.clutter)
    one = make_canvases(images[:1], labels[:1], clutter_sources=sources, n_clutter=2, clutter_size=4)
    assert len(one) == 1


def test_save_and_load_round_trip(tmp_path):
    images, labels = _items(9)
    c = make_canvases(images, labels, seed=7)
    path = save_canvases(tmp_path / "c.safetensors", c)
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
    back = load_canvases(path)
    assert back.images.tobytes() == c.images.tobytes() and back.labels.dtype == np.int64
    np.testing.assert_array_equal(back.labels, c.labels)
    assert back.transforms == c.transforms and back.params == c.params
    empty = make_canvases(images, labels, n_clutter=0)
    assert load_canvases(save_canvases(tmp_path / "e.safetensors", empty)).transforms == empty.transforms


def test_loading_something_else_is_a_clear_error(tmp_path):
    from safetensors.numpy import save_file

    other = tmp_path / "o.safetensors"
    save_file({"x": np.zeros(2)}, str(other))
    with pytest.raises(InputError, match="not an attnkit canvases file"):
        load_canvases(other)
    junk = tmp_path / "j.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="not a readable canvases file"):
        load_canvases(junk)
    images, labels = _items(3)
    good = make_canvases(images, labels)
    save_canvases(tmp_path / "g.safetensors", good)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "g.safetensors"), framework="np") as fh:
        metadata = fh.metadata()
    metadata["transforms"] = metadata["transforms"].replace('"box":[[', '"box":[[1,')
    save_file({"images": good.images, "labels": good.labels}, str(tmp_path / "d.safetensors"), metadata=metadata)
    with pytest.raises(InputError, match="damaged canvases transforms"):
        load_canvases(tmp_path / "d.safetensors")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 30}, "larger than the 30x30 canvas; raise size or lower scale"),
        ({"max_angle": 200.0}, r"max_angle must lie in \[0, 180\]"),
        ({"scale": (1.2, 0.7)}, "scale must be"),
        ({"n_clutter": -1}, "n_clutter must be >= 0"),
        ({"clutter_size": 29}, r"clutter_size must lie in \[1, 28\]"),
    ],
)
def test_bad_parameters_are_config_errors(kwargs, match):
    images, labels = _items(3)
    with pytest.raises(ConfigError, match=match):
        make_canvases(images, labels, **kwargs)


def test_bad_arrays_are_value_errors():
    images, labels = _items(3)
    with pytest.raises(ValueError, match=r"labels of shape \(2,\) do not match 3 images"):
        make_canvases(images, labels[:2])
    with pytest.raises(ValueError, match="images must be uint8"):
        make_canvases(images.astype(float), labels)
    with pytest.raises(ConfigError, match="needs at least two images"):
        make_canvases(images[:1], labels[:1])
