"""``image-folder``: image classification of the user's own pictures, an ImageFolder-style
directory with one folder per class (the layouts: :mod:`attnkit.data.image_folder`), for the
families ``cnn`` (any attention, a spatial transformer) and ``vit``.

Data. Every image is read once with Pillow, converted to ``data.channels`` (3: RGB, 1: grey) and
resized to ``data.size`` (height, width) with bilinear filtering. Without train/dev/test folders
the split is seeded and stratified by class (``data.dev_fraction`` and ``data.test_fraction`` of
every class with at least 3 images; :func:`attnkit.data.user_files.draw_split`).

Run folder. ``data/{split}.safetensors`` holds the split's resized pixels (uint8 (N, C, H, W))
and labels, with the image files' names in its metadata, so the run no longer needs the folder;
``dataset.json`` holds the config, the classes, the training mean and standard deviation and the
sha256 of every split's pixels, which loading checks.

Input to the models: pixels / 255, minus the training images' mean, over their standard
deviation (one mean and one deviation over all channels), as (B, C, H, W) float32; ``attnkit
predict`` reads a file the same way (:meth:`UserImagesTask.image_processing`, a
``ViTImageProcessor`` pipeline, so ``attnkit export-hf`` exports a ``vit`` run). Predictions are
:class:`~attnkit.tasks.images.ImagePrediction` s (kind ``image-overlay``), drawn over the grey
picture the model saw.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data.hf_image import DEFAULT_MAX_PIXELS, ImageProcessing
from ..data.image_folder import find_images, read_images
from ..data.images import ImageExample, image_examples, pixel_digest
from ..data.user_files import SPLITS, draw_split
from ..errors import ConfigError, InputError
from ..io import atomic_path, atomic_write_text
from ..models.specs import ImageSpec
from .classification import check_split_fractions
from .images import QUERY, FashionMNISTTask, ImagePrediction, _parse_query, add_explanation, explain_option
from .self_attention import EXPLAIN

__all__ = ["ImageFolderConfig", "UserImagesTask"]


@dataclass(frozen=True)
class ImageFolderConfig:
    """``data.task: image-folder``.

    Attributes:
        root: the image folder (relative to the working folder).
        size: [height, width] the images are resized to, pixels.
        channels: 3 (RGB) or 1 (grey).
        seed: seed of the split.
        dev_fraction, test_fraction: shares of each class's images in dev and test, in (0, 1),
            when the folder has no train/dev/test folders.
        max_pixels: the largest image read, width x height (larger files are refused unread).
    """

    task: str = "image-folder"
    root: str = ""
    size: tuple[int, int] = (32, 32)
    channels: int = 3
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    max_pixels: int = DEFAULT_MAX_PIXELS

    def check(self) -> None:
        if not self.root:
            raise ConfigError("data.root: give the image folder (one subfolder of images per class)")
        if len(self.size) != 2 or min(self.size) < 1 or max(self.size) > 1024:
            raise ConfigError(f"data.size must be [height, width] in pixels, 1 to 1024, got {list(self.size)}")
        if self.channels not in (1, 3):
            raise ConfigError(f"data.channels must be 3 (RGB) or 1 (grey), got {self.channels}")
        if self.max_pixels < 1:
            raise ConfigError(f"data.max_pixels must be >= 1, got {self.max_pixels}")
        check_split_fractions(self)


def _save_split(path: Path, pixels: np.ndarray, labels: np.ndarray, files: list[str]) -> None:
    from safetensors.numpy import save

    data = save({"images": pixels, "labels": labels}, metadata={"files": json.dumps(files, ensure_ascii=False)})
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@dataclass
class UserImagesTask(FashionMNISTTask):
    """Classification of the user's images (:class:`ImageFolderConfig`); families ``cnn`` and
    ``vit``. Loss, metrics (accuracy, macro-F1, per-class accuracy, confusion matrix) and the
    attention maps of predictions are :class:`~attnkit.tasks.images.FashionMNISTTask`'s."""

    config: Any  # an ImageFolderConfig
    classes: list[str] = field(default_factory=list)
    channels: int = 3

    name = "image-folder"
    config_class = ImageFolderConfig  # type: ignore[assignment]

    @property
    def capabilities(self) -> TaskCapabilities:
        """An image file in (options ``query`` and ``explain``), one of the classes out."""
        return TaskCapabilities(InputKind.IMAGE, (QUERY, EXPLAIN), classes=tuple(self.classes), pixel_pipeline=True)

    @property
    def spec(self) -> ImageSpec:
        return ImageSpec(self.channels, self.size[0], self.size[1], len(self.classes))

    def image_processing(self) -> ImageProcessing:
        """The input pipeline: RGB or grey, bilinear resize, / 255, minus the training mean, over
        its standard deviation (the same values on every channel)."""
        c = self.channels
        return ImageProcessing(self.size, c, image_mean=(self.mean,) * c, image_std=(self.std,) * c)

    # --- data and the run folder -------------------------------------------------------------
    @classmethod
    def build(  # type: ignore[override]
        cls, cfg: ImageFolderConfig, run_dir: str | Path
    ) -> tuple["UserImagesTask", dict[str, list]]:
        """Find and read the images, split them if the folder is not split, and write the run's copy.

        Raises:
            attnkit.errors.ConfigError: one line naming the folder or file at fault (see
                :func:`attnkit.data.image_folder.find_images` and ``read_images``).
        """
        found = find_images(cfg.root)
        size = (int(cfg.size[0]), int(cfg.size[1]))
        if "all" in found.files:
            listed = found.files["all"]
            files = draw_split(listed, [y for _, y in listed], cfg)
        else:
            files = found.files
        run_dir = Path(run_dir)
        splits, meta = {}, {}
        for split in SPLITS:
            names = [f for f, _ in files[split]]
            pixels = read_images(cfg.root, names, size, cfg.channels, cfg.max_pixels)
            labels = np.array([y for _, y in files[split]], dtype=np.int64)
            _save_split(run_dir / "data" / f"{split}.safetensors", pixels, labels, names)
            splits[split] = image_examples(pixels, labels, np.arange(len(labels)))
            meta[split] = {
                "n": len(labels),
                "per_class": np.bincount(labels, minlength=len(found.classes)).tolist(),
                "sha256": pixel_digest(pixels, labels),
            }
            if split == "train":
                scaled = pixels.astype(np.float64) / 255.0
                mean, std = float(scaled.mean()), max(float(scaled.std()), 1e-6)
        info = {"config": asdict(cfg), "classes": found.classes, "mean": mean, "std": std, "splits": meta}
        atomic_write_text(run_dir / "dataset.json", json.dumps(info, indent=1, ensure_ascii=False))
        return cls(cfg, mean, std, size, list(found.classes), cfg.channels), splits

    @classmethod
    def load(cls, cfg: Any, run_dir: str | Path) -> "UserImagesTask":
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        size = (int(cfg.size[0]), int(cfg.size[1]))
        return cls(cfg, info["mean"], info["std"], size, list(info["classes"]), cfg.channels)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str, **_: Any) -> list[ImageExample]:
        """The examples of a saved split, checked against the sha256 the run recorded.

        Raises:
            attnkit.errors.ConfigError: if the saved pixels differ from the ones trained on.
        """
        from safetensors.numpy import load_file

        run_dir = Path(run_dir)
        info = json.loads((run_dir / "dataset.json").read_text(encoding="utf-8"))
        arrays = load_file(str(run_dir / "data" / f"{split}.safetensors"))
        pixels, labels = arrays["images"], arrays["labels"]
        if pixel_digest(pixels, labels) != info["splits"][split]["sha256"]:
            raise ConfigError(f"{run_dir}: the saved {split} images differ from the ones this run recorded")
        return image_examples(pixels, labels, np.arange(len(labels)))

    # --- training, evaluation and prediction ---------------------------------------------------
    def _normalise(self, pixels: Tensor) -> Tensor:
        """uint8 (B, C, H, W) -> normalised (B, C, H, W) float32."""
        return (pixels.float() / 255.0 - self.mean) / self.std

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[ImagePrediction]:
        """The class of each image file (read as :meth:`image_processing` says), with the model's
        attention maps. Options: ``query=ROW,COL`` (a non-local block's query cell) and
        ``explain=NAME`` (a ``vit`` run), as for ``fashion-mnist``.

        Raises:
            attnkit.errors.InputError: for an unreadable file or an unknown option; every input is
                checked before any prediction.
        """
        unknown = set(options) - {"query", "explain"}
        if unknown:
            raise InputError(
                f"unknown option {', '.join(sorted(unknown))} for task {self.name}; "
                "it takes query=ROW,COL and explain=NAME"
            )
        explain = explain_option(model, options)
        query = _parse_query(options.get("query"))
        if not inputs:
            raise InputError("no input images")
        processing = self.image_processing()
        read = [processing.read(path, max_pixels=self.config.max_pixels) for path in inputs]
        x = torch.from_numpy(np.stack([pixels for pixels, _ in read]))
        with torch.no_grad():
            out = model(x.to(next(model.parameters()).device), need_weights=True)
        probs = torch.softmax(out.logits.float(), dim=-1).cpu()
        preds = [self._prediction(out, b, probs[b], read[b][1], query) for b in range(len(read))]
        add_explanation(model, x, explain, preds)
        return preds
