"""An ImageFolder-style directory of the user's pictures: one folder per class.

Two layouts are read (hidden files and folders, whose names start with ``.``, are skipped; files
directly in ROOT are ignored):

- ``ROOT/CLASS/...``: every file under a class folder (its subfolders included) is an image of
  that class; the split is drawn later (:func:`attnkit.data.user_files.split_examples`);
- ``ROOT/train/CLASS/...``, ``ROOT/dev/CLASS/...``, ``ROOT/test/CLASS/...``: the split as given
  (all three folders, nothing else beside them); the classes are train's class folders, and dev
  or test may lack a class but not add one.

Every file must be an image Pillow reads (PNG, JPEG, GIF, BMP, TIFF, WebP, ... the first frame
of an animation); it is converted to RGB (3 channels; transparency composited onto white) or grey
(1 channel) and resized to (H, W) with bilinear filtering, exactly as
:class:`attnkit.data.hf_image.ImageProcessing` does for ``attnkit predict``. Classes are the
folder names, sorted.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, InputError
from .hf_image import ImageProcessing

__all__ = ["FolderImages", "find_images", "read_images"]

_SPLIT_DIRS = ("train", "dev", "test")


class FolderImages(NamedTuple):
    """What :func:`find_images` found: the classes, and per split (``"all"`` when the folder has
    no split) the files (relative to the root, sorted) with their class indices."""

    classes: list[str]
    files: dict[str, list[tuple[str, int]]]


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _class_names(folder: Path) -> list[str]:
    return [p.name for p in _visible(folder) if p.is_dir()]


def _class_files(root: Path, folder: Path, classes: list[str]) -> list[tuple[str, int]]:
    """(file relative to `root`, class index) of every image file in `folder`'s class folders.

    Raises:
        attnkit.errors.ConfigError: for a class folder not in `classes`, or one without files.
    """
    out = []
    for name in _class_names(folder):
        sub = folder / name
        if name not in classes:
            raise ConfigError(
                f"{sub}: class folder {name!r} is not among train's ({', '.join(classes)}); "
                "every class needs training images"
            )
        files = [
            p
            for p in sorted(sub.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(sub).parts)
        ]
        if not files:
            raise ConfigError(f"{sub}: no image files in class folder {name!r}; remove it or add images")
        out += [(str(p.relative_to(root)), classes.index(name)) for p in files]
    return out


def find_images(root: str | Path) -> FolderImages:
    """The image files of an image folder (the module docstring gives the layouts).

    Raises:
        attnkit.errors.ConfigError: for a missing root, fewer than two class folders, an empty
            class folder, a split layout with a folder missing or a folder beside them, or a dev
            or test class without training images.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder; give a folder with one subfolder of images per class")
    folders = _class_names(root)
    split = bool(set(folders) & set(_SPLIT_DIRS))
    if split and sorted(folders) != sorted(_SPLIT_DIRS):
        raise ConfigError(
            f"{root}: holds {', '.join(folders)}; a split image folder holds exactly train, dev and test, "
            "each with one folder per class (or give class folders only, and the split is drawn)"
        )
    classes = _class_names(root / "train" if split else root)
    if len(classes) < 2:
        where = root / "train" if split else root
        raise ConfigError(f"{where}: {len(classes)} class folder(s); give one folder of images per class, at least two")
    if not split:
        return FolderImages(classes, {"all": _class_files(root, root, classes)})
    files = {name: _class_files(root, root / name, classes) for name in _SPLIT_DIRS}
    for name, listed in files.items():
        if not listed:
            raise ConfigError(f"{root / name}: no images; give dev and test images in class folders")
    return FolderImages(classes, files)


def read_images(
    root: str | Path, files: list[str], size: tuple[int, int], channels: int, max_pixels: int
) -> np.ndarray:
    """The images `files` (relative to `root`) as uint8 (N, C, H, W), converted and resized.

    Raises:
        attnkit.errors.ConfigError: naming the first file that Pillow cannot read, that is over
            `max_pixels` pixels, or that Pillow refuses as a decompression bomb.
    """
    flat = (0.0,) * channels, (1.0,) * channels
    reader = ImageProcessing(
        size, channels, do_rescale=False, do_normalize=False, image_mean=flat[0], image_std=flat[1]
    )
    out = np.zeros((len(files), channels, size[0], size[1]), dtype=np.uint8)
    for i, name in enumerate(files):
        try:
            pixels, _ = reader.read(Path(root) / name, max_pixels=max_pixels)
        except InputError as err:
            raise ConfigError(f"{str(err).splitlines()[0]}; remove the file or convert it") from None
        out[i] = np.rint(pixels).astype(np.uint8)
    return out
