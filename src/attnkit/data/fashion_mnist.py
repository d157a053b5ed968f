"""Fashion-MNIST [Xiao17] from the Debian package ``dataset-fashion-mnist``.

70,000 greyscale 28x28 pictures of clothing in ten classes (60,000 for training, 10,000 for
testing, 6,000 and 1,000 per class), stored as four gzipped IDX files (:mod:`attnkit.data.idx`)
in :data:`FASHION_MNIST_DIR`. The ``ATTNKIT_FASHION_MNIST`` environment variable, or the `root`
argument, points elsewhere (a folder holding the same four files, gzipped or not).

Loading the 60,000 training images takes about 0.4 s (gzip, then one ``numpy.frombuffer``).

References:
    [Xiao17] H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for
    Benchmarking Machine Learning Algorithms. 2017. arXiv:1708.07747.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from .idx import read_idx

__all__ = [
    "FASHION_MNIST_DIR",
    "CLASSES",
    "SPLITS",
    "DEBIAN_PACKAGE",
    "DatasetError",
    "DatasetMissing",
    "fashion_mnist_root",
    "load_fashion_mnist",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
ENV_VAR = "ATTNKIT_FASHION_MNIST"

# Label -> class name, as in [Xiao17] Table 1.
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# Split -> (images file, labels file).
SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_SIDE = 28


class DatasetError(InputError):
    """An installed data set whose files do not hold what they should."""


class DatasetMissing(DatasetError):
    """An installed data set that is not there; the message says how to install it."""


def fashion_mnist_root(root: str | Path | None = None) -> Path:
    """The folder searched: `root`, else ``$ATTNKIT_FASHION_MNIST``, else :data:`FASHION_MNIST_DIR`."""
    if root is not None:
        return Path(root)
    return Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else FASHION_MNIST_DIR


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    hint = f"install it with `apt-get install {DEBIAN_PACKAGE}`"
    if root != FASHION_MNIST_DIR:
        hint += f" (which puts it in {FASHION_MNIST_DIR}), or point {ENV_VAR} at a folder holding the files"
    raise DatasetMissing(f"Fashion-MNIST not found in {root} (missing {name}); {hint}")


def load_fashion_mnist(split: str = "train", root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of one Fashion-MNIST split.

    Args:
        split: ``"train"`` (60,000 examples) or ``"test"`` (10,000).
        root: the folder holding the IDX files (see :func:`fashion_mnist_root`).

    Returns:
        ``(images, labels)``: images uint8 (N, 28, 28), pixel intensities in [0, 255] (0 is the
        background); labels int64 (N,), class indices in [0, 10) into :data:`CLASSES`.

    Raises:
        ConfigError: if `split` is neither "train" nor "test".
        DatasetMissing: if a file is missing (the message gives the ``apt-get install`` line).
        DatasetError: if the files disagree in length, the images are not uint8 (N, 28, 28), or a
            label is outside [0, 10).
        IDXError: if a file is not a well-formed IDX file.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown Fashion-MNIST split {split!r}; choose one of {', '.join(SPLITS)}")
    folder = fashion_mnist_root(root)
    image_file, label_file = (_find(folder, name) for name in SPLITS[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (_SIDE, _SIDE):
        raise DatasetError(
            f"{image_file}: expected uint8 images (N, {_SIDE}, {_SIDE}), found {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetError(f"{label_file}: expected uint8 labels (N,), found {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DatasetError(
            f"{image_file} holds {len(images)} images but {label_file} holds {len(labels)} "
            "labels; reinstall the package"
        )
    if labels.size and labels.max() >= len(CLASSES):
        raise DatasetError(f"{label_file}: label {int(labels.max())} is outside [0, {len(CLASSES)})")
    return images, labels.astype(np.int64)
