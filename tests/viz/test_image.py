"""Pictures of attention on images: figures with the expected axes, PNGs, clear shape errors."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from attnkit.viz import (
    plot_channel_weights,
    plot_confusion,
    plot_image_attention,
    plot_image_attention_grid,
    plot_spatial_transformer,
    sampling_outline,
    save_figure,
)

RNG = np.random.default_rng(0)


def _png(fig, tmp_path, name="f.png"):
    path = save_figure(fig, tmp_path / name)
    assert path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "image",
    [
        RNG.integers(0, 256, (28, 28), dtype=np.uint8),
        RNG.random((32, 24, 3)),
        RNG.normal(size=(3, 32, 24)),
        RNG.random((1, 28, 28)),
    ],
)
def test_overlay_covers_the_picture_with_the_upsampled_map(image, tmp_path):
    heat = RNG.random((7, 6))
    fig = plot_image_attention(image, heat, title="t", marker=(3, 4))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    picture, overlay = ax.images
    height, width = picture.get_array().shape[:2]
    assert overlay.get_extent() == [-0.5, width - 0.5, height - 0.5, -0.5]
    assert overlay.get_interpolation() == "bilinear" and overlay.get_alpha() == 0.5
    assert overlay.get_clim() == (0.0, heat.max())
    assert 0.0 <= picture.get_array().min() and picture.get_array().max() <= 1.0
    assert [tuple(line.get_xydata()[0]) for line in ax.lines] == [(4.0, 3.0)] * 2  # (col, row)
    _png(fig, tmp_path)


def test_overlay_refuses_bad_inputs():
    image = np.zeros((8, 8))
    with pytest.raises(ValueError, match=r"image of shape \(8, 8, 5\) is not"):
        plot_image_attention(np.zeros((8, 8, 5)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="heat of shape"):
        plot_image_attention(image, np.ones(4))
    with pytest.raises(ValueError, match="non-negative"):
        plot_image_attention(image, -np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"marker \(8, 0\) lies outside the 8x8 image"):
        plot_image_attention(image, np.ones((2, 2)), marker=(8, 0))
    with pytest.raises(ValueError, match="alpha"):
        plot_image_attention(image, np.ones((2, 2)), alpha=2.0)


def test_grid_has_one_axes_per_panel(tmp_path):
    images = [RNG.random((16, 16)) for _ in range(5)]
    heats = [RNG.random((4, 4)) for _ in range(5)]
    fig = plot_image_attention_grid(
        images, heats, ["CBAM", "non-local", "rollout", "a", "b"], ncols=3, markers=[None, (2, 2), None, None, None]
    )
    assert len(fig.axes) == 5 and [ax.get_title() for ax in fig.axes] == ["CBAM", "non-local", "rollout", "a", "b"]
    assert len(fig.axes[1].lines) == 2 and not fig.axes[0].lines
    _png(fig, tmp_path)
    with pytest.raises(ValueError, match=r"need the same non-zero number of each, got \{'images': 5, 'heats': 4"):
        plot_image_attention_grid(images, heats[:4])
    with pytest.raises(ValueError, match="ncols"):
        plot_image_attention_grid(images, heats, ncols=0)


def test_channel_weights_one_line_per_class_with_examples(tmp_path):
    weights = RNG.random((40, 16))
    labels = np.arange(40) % 3
    fig = plot_channel_weights(weights, labels, ["a", "b", "c", "d"], title="SE block 3")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["a", "b", "c", "all"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), weights[labels == 1].mean(axis=0))
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), weights.mean(axis=0))
    assert ax.get_ylim() == (0.0, 1.0)
    _png(fig, tmp_path)
    with pytest.raises(ValueError, match=r"weights of shape \(40, 16\) and labels of shape \(39,\) do not match"):
        plot_channel_weights(weights, labels[:39], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        plot_channel_weights(weights + 1, labels, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 2\)"):
        plot_channel_weights(weights, labels, ["a", "b"])


def test_sampling_outline_follows_affine_grid_with_align_corners_false():
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    np.testing.assert_allclose(
        sampling_outline(identity, 20, 30), [[-0.5, -0.5], [29.5, -0.5], [29.5, 19.5], [-0.5, 19.5]]
    )
    half = np.array([[0.5, 0, 0.5], [0, 0.5, 0]])  # zoom on the right half, vertically centred
    np.testing.assert_allclose(sampling_outline(half, 20, 40), [[19.5, 4.5], [39.5, 4.5], [39.5, 14.5], [19.5, 14.5]])
    torch = pytest.importorskip("torch")
    theta = torch.tensor([[[0.7, -0.3, 0.1], [0.2, 0.8, -0.2]]], dtype=torch.float64)
    grid = torch.nn.functional.affine_grid(theta, (1, 1, 50, 50), align_corners=False)[0]  # (H', W', 2)
    # the outermost output pixel centres sit half a pixel (of 50) inside the corners (+-1)
    step = 1 / 50
    corners = grid[[0, 0, -1, -1], [0, -1, -1, 0]].numpy()
    expected = (
        np.array(
            [[-1 + step, -1 + step, 1], [1 - step, -1 + step, 1], [1 - step, 1 - step, 1], [-1 + step, 1 - step, 1]]
        )
        @ theta[0].numpy().T
    )
    np.testing.assert_allclose(corners, expected)


def test_spatial_transformer_inputs_above_outputs(tmp_path):
    inputs, outputs = RNG.random((3, 40, 40)), RNG.random((3, 20, 20))
    thetas = np.tile([[0.5, 0, 0], [0, 0.5, 0]], (3, 1, 1))
    fig = plot_spatial_transformer(inputs, outputs, thetas, titles=["a", "b", "c"])
    assert len(fig.axes) == 6
    assert all(ax.images[0].get_array().shape == (40, 40) for ax in fig.axes[:3])
    assert all(ax.images[0].get_array().shape == (20, 20) for ax in fig.axes[3:])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xydata()[:4], sampling_outline(thetas[0], 40, 40))
    _png(fig, tmp_path)
    assert len(plot_spatial_transformer(inputs, outputs).axes[0].lines) == 0
    with pytest.raises(ValueError, match=r"thetas of shape \(2, 2, 3\) do not match 3 inputs"):
        plot_spatial_transformer(inputs, outputs, thetas[:2])
    with pytest.raises(ValueError, match="with the same N"):
        plot_spatial_transformer(inputs, outputs[:2])


def test_confusion_cells_show_shares_and_counts(tmp_path):
    confusion = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])
    fig = plot_confusion(confusion, ["x", "y", "z"], title="test")
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the matrix and its colour bar
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["80%\n8", "20%\n2", "0%\n0"] and texts[-1] == "0%\n0"
    np.testing.assert_allclose(ax.images[0].get_array()[0], [0.8, 0.2, 0.0])
    _png(fig, tmp_path)
    raw = plot_confusion(confusion, ["x", "y", "z"], normalise=False).axes[0]
    assert [t.get_text() for t in raw.texts][:2] == ["8", "2"] and raw.images[0].get_clim() == (0.0, 9.0)
    with pytest.raises(ValueError, match=r"confusion of shape \(3, 3\) does not match 2 class names"):
        plot_confusion(confusion, ["x", "y"])
    with pytest.raises(ValueError, match="non-negative whole counts"):
        plot_confusion(-confusion, ["x", "y", "z"])
