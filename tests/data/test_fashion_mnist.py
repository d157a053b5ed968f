"""Fashion-MNIST: the Debian package's files as published [Xiao17], and one-line errors."""

import numpy as np
import pytest

from attnkit.data.fashion_mnist import CLASSES, FASHION_MNIST_DIR, DatasetError, DatasetMissing, load_fashion_mnist
from attnkit.data.idx import write_idx
from attnkit.errors import ConfigError, InputError

INSTALLED = all(
    (FASHION_MNIST_DIR / name).is_file()
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
)
needs_package = pytest.mark.skipif(
    not INSTALLED, reason="Fashion-MNIST is not installed: sudo apt-get install dataset-fashion-mnist"
)


@needs_package
@pytest.mark.parametrize("split, n", [("train", 60_000), ("test", 10_000)])
def test_the_installed_splits_are_as_published(split, n, monkeypatch):
    monkeypatch.delenv("ATTNKIT_FASHION_MNIST", raising=False)
    images, labels = load_fashion_mnist(split)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [n // 10] * 10)
    assert images.max() == 255 and images.min() == 0


def test_the_class_names():
    assert CLASSES == (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


def _fake(root, n_images=6, n_labels=6, side=28, top_label=9, gz=True):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(root / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_images, side, side), dtype=np.uint8))
    labels = np.arange(n_labels, dtype=np.uint8) % (top_label + 1)
    labels[-1] = top_label
    write_idx(root / f"t10k-labels-idx1-ubyte{suffix}", labels)


@pytest.mark.parametrize("gz", [True, False])
def test_root_and_the_environment_variable_point_elsewhere(tmp_path, monkeypatch, gz):
    _fake(tmp_path, gz=gz)
    images, labels = load_fashion_mnist("test", root=tmp_path)
    assert images.shape == (6, 28, 28) and labels.tolist() == [0, 1, 2, 3, 4, 9]
    monkeypatch.setenv("ATTNKIT_FASHION_MNIST", str(tmp_path))
    np.testing.assert_array_equal(load_fashion_mnist("test")[0], images)


def test_a_missing_folder_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNKIT_FASHION_MNIST", str(tmp_path / "none"))
    with pytest.raises(DatasetMissing) as err:
        load_fashion_mnist("train")
    message = str(err.value)
    assert message.startswith(
        f"Fashion-MNIST not found in {tmp_path / 'none'} (missing train-images-idx3-ubyte.gz); "
        "install it with `apt-get install dataset-fashion-mnist`"
    )
    assert "ATTNKIT_FASHION_MNIST" in message and "\n" not in message
    assert isinstance(err.value, InputError)


def test_the_default_folder_message_is_the_documented_one(monkeypatch):
    from attnkit.data import fashion_mnist

    monkeypatch.delenv("ATTNKIT_FASHION_MNIST", raising=False)
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_DIR", FASHION_MNIST_DIR / "not-here")
    with pytest.raises(DatasetMissing) as err:
        fashion_mnist.load_fashion_mnist("test", root=FASHION_MNIST_DIR / "not-here")
    assert str(err.value) == (
        f"Fashion-MNIST not found in {FASHION_MNIST_DIR / 'not-here'} (missing "
        "t10k-images-idx3-ubyte.gz); install it with `apt-get install dataset-fashion-mnist`"
    )


def test_a_missing_labels_file_is_named(tmp_path):
    _fake(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetMissing, match=r"\(missing t10k-labels-idx1-ubyte.gz\)"):
        load_fashion_mnist("test", root=tmp_path)


@pytest.mark.parametrize(
    "fake, match",
    [
        ({"n_labels": 5}, "holds 6 images but .* holds 5 labels"),
        ({"side": 27}, r"expected uint8 images \(N, 28, 28\), found uint8 \(6, 27, 27\)"),
        ({"top_label": 10}, r"label 10 is outside \[0, 10\)"),
    ],
)
def test_inconsistent_files_are_refused(tmp_path, fake, match):
    _fake(tmp_path, **fake)
    with pytest.raises(DatasetError, match=match):
        load_fashion_mnist("test", root=tmp_path)


def test_an_unknown_split_lists_the_choices(tmp_path):
    with pytest.raises(ConfigError, match="unknown Fashion-MNIST split 'dev'; choose one of train, test"):
        load_fashion_mnist("dev", root=tmp_path)
