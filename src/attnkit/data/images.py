"""Images for the image tasks: reading a picture file as the models see it, stratified index
draws and splits, the sha256 of pixel arrays, the examples (:class:`ImageExample`), and
:class:`CanvasCache`, which keeps the last distorted canvases made so that several runs on the
same data in one process make them once.

Nothing here holds state at module level: a cache is an object its owner creates and passes
to :meth:`attnkit.tasks.images.FashionMNISTTask.build` and ``load_split`` (``canvases=``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .canvas import make_canvases, transform_columns

__all__ = [
    "MAX_IMAGE_PIXELS",
    "read_image",
    "stratified_indices",
    "split_indices",
    "pixel_digest",
    "ImageExample",
    "image_examples",
    "CanvasSet",
    "CanvasCache",
]


#: the most pixels (width x height) an input image may declare: read from its header before
#: anything is decoded, so that a "decompression bomb" (a 20000 x 20000 PNG of 389 KB) costs
#: nothing; 50 million is a 50-megapixel photo, far larger than any attnkit model's input
MAX_IMAGE_PIXELS = 50_000_000


def read_image(path: str | Path, size: tuple[int, int], *, invert: str = "auto") -> np.ndarray:
    """A PNG/JPEG/... file as a grey (H, W) float array in [0, 1], resized to `size` (H, W).

    Fashion-MNIST items are light on black; a photo is usually dark on white. ``invert="auto"``
    inverts the image when its border is brighter than its centre on average; ``"yes"`` /
    ``"no"`` force the choice.

    Raises:
        attnkit.errors.InputError: if the file is missing, not an image Pillow can read, truncated,
            or declares more than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:  # reads the header only
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InputError(
                    f"{path}: {width} x {height} pixels is more than the {MAX_IMAGE_PIXELS:,} attnkit reads; "
                    "scale the image down"
                )
            grey = img.convert("L").resize((size[1], size[0]), Image.Resampling.BILINEAR)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; give the path of a PNG or JPEG image") from None
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: the image declares more pixels than attnkit reads ({MAX_IMAGE_PIXELS:,}); scale it down"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise InputError(f"{path}: not an image Pillow can read ({reason})") from None
    x = np.asarray(grey, dtype=np.float32) / 255.0
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]]).mean()
    h, w = x.shape
    centre = x[h // 4 : h - h // 4, w // 4 : w - w // 4].mean()
    if invert == "yes" or (invert == "auto" and border > centre):
        x = 1.0 - x
    return x


def stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of `n` items of `labels` (N,), drawn with every class's share of N: each
    class gets the floor of its quota, and the largest remainders one more (ties: lower class)."""
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    quota = np.array([len(m) for m in members], dtype=float) * n / len(labels)
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    return np.sort(np.concatenate([rng.permutation(m)[:k] for m, k in zip(members, take)]))


def split_indices(
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    *,
    seed: int,
    dev_size: int,
    train_size: int = 0,
    test_size: int = 0,
) -> dict[str, np.ndarray]:
    """The seeded, stratified split of a data set with a training and a test part.

    ``dev``: `dev_size` of the training items (:func:`stratified_indices`); ``train``: the other
    training items, or a stratified `train_size` of them; ``test``: every test item, or a
    stratified `test_size` of them. All draws come from one ``numpy.random.default_rng(seed)``.

    Returns:
        ``{"train": ..., "dev": ..., "test": ...}``: sorted indices into `train_labels` (train
        and dev, disjoint) and into `test_labels` (test).
    """
    rng = np.random.default_rng(seed)
    dev = stratified_indices(train_labels, dev_size, rng)
    rest = np.setdiff1d(np.arange(len(train_labels)), dev)
    train = rest if not train_size else rest[stratified_indices(train_labels[rest], train_size, rng)]
    test = np.arange(len(test_labels)) if not test_size else stratified_indices(test_labels, test_size, rng)
    return {"train": train, "dev": dev, "test": test}


def pixel_digest(*arrays: np.ndarray) -> str:
    """The sha256 (hex) of the arrays' bytes in C order, one after the other (dtype and shape
    are not hashed); the image tasks record it to check that reloaded data is the same."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ImageExample:
    """One image: its pixels, (H, W) uint8 (a view into the split's array), its class and its
    index in the source split."""

    image: Tensor
    label: int
    index: int


def image_examples(images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> list[ImageExample]:
    """One :class:`ImageExample` per row of `images` (N, H, W) uint8, sharing one tensor's memory."""
    pixels = torch.from_numpy(np.ascontiguousarray(images))
    return [ImageExample(pixels[i], int(labels[i]), int(indices[i])) for i in range(len(labels))]


class CanvasSet(NamedTuple):
    """One set of canvases as the image tasks keep it."""

    images: np.ndarray  # (N, size, size) uint8
    labels: np.ndarray  # (N,) int64
    transforms: dict[str, list]  # :func:`attnkit.data.canvas.transform_columns` of the placements


class CanvasCache:
    """The last `capacity` sets of canvases made through it, oldest dropped first.

    A set is found again by everything that determines its bytes: the canvas parameters, the
    seed and the sha256 of the source images, so a hit is exactly what
    :func:`attnkit.data.canvas.make_canvases` would make again. Whoever trains or loads several
    runs on the same data in one process (a study) creates one cache and passes it along; a
    fresh cache (the default of the tasks) only saves repeats within its owner's use.

    Args:
        capacity: sets kept, >= 1 (the image tasks make three per run: train, dev, test).

    Raises:
        ValueError: if `capacity` is below 1.
    """

    def __init__(self, capacity: int = 3) -> None:
        if capacity < 1:
            raise ValueError(f"a canvas cache holds at least 1 set, got capacity={capacity}")
        self.capacity = capacity
        self._sets: OrderedDict[tuple, CanvasSet] = OrderedDict()
        self.made = 0  # sets made (cache misses), for tests and logs

    def __len__(self) -> int:
        return len(self._sets)

    def canvases(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        size: int,
        seed: int,
        max_angle: float,
        scale: tuple[float, float],
        n_clutter: int,
        clutter_size: int,
    ) -> CanvasSet:
        """The canvases of `images` (N, h, w) uint8 with `labels` (N,), made by
        :func:`attnkit.data.canvas.make_canvases` with these arguments (clutter from the images
        themselves) unless this cache holds them already."""
        key = (
            size,
            seed,
            float(max_angle),
            (float(scale[0]), float(scale[1])),
            n_clutter,
            clutter_size,
            pixel_digest(images, labels),
        )
        found = self._sets.get(key)
        if found is not None:
            self._sets.move_to_end(key)
            return found
        made = make_canvases(
            images,
            labels,
            size=size,
            seed=seed,
            max_angle=max_angle,
            scale=scale,
            n_clutter=n_clutter,
            clutter_size=clutter_size,
        )
        self.made += 1
        self._sets[key] = CanvasSet(made.images, made.labels, transform_columns(made.transforms))
        while len(self._sets) > self.capacity:
            self._sets.popitem(last=False)
        return self._sets[key]
