"""``pretrained-image``: image classification by an imported Hugging Face Vision Transformer.

A run of this task is made by ``attnkit import-hf DIR --out RUN`` from a ``ViTModel`` or
``ViTForImageClassification`` checkpoint (:mod:`attnkit.pretrained.vit`), not trained: it has no
data splits. Its ``data:`` section holds what the checkpoint's ``config.json`` says about its
input and output (channels, image size, the class names of ``id2label``, none for a model without
a classification head) and the largest image accepted; the run folder keeps the checkpoint's
``preprocessor_config.json``, whose pipeline :class:`attnkit.data.hf_image.ImageProcessing`
reproduces exactly (``ViTImageProcessor``'s defaults at the model's size when the checkpoint has
none).

``predict`` reads image files and returns :class:`~attnkit.tasks.images.ImagePrediction`\\ s
(kind ``image-overlay``): the class, its probability, every class's, and the model's attention
maps over the picture (the attention rollout [Abnar20] of the class token and the last layer's
class-token row), drawn by ``attnkit predict --attention-plot`` and the explorer like those of
attnkit's own ViT. ``evaluate`` scores labelled image files (:class:`LabelledImage`) from Python.

References:
    [Dosovitskiy21] A. Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale. ICLR 2021. arXiv:2010.11929.
    [Abnar20] S. Abnar, W. Zuidema. Quantifying Attention Flow in Transformers. ACL 2020.
    arXiv:2005.00928.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data.hf_image import DEFAULT_MAX_PIXELS, ImageProcessing
from ..errors import ConfigError, InputError
from ..models.specs import ImageSpec
from .base import LossContext, PrimaryMetric
from .classification import ClassLabel, classification_report, score_classifier
from .images import ImagePrediction, add_explanation, explain_option
from .self_attention import EXPLAIN

__all__ = ["PretrainedImageConfig", "PretrainedImageTask", "LabelledImage", "PREPROCESSOR_FILE"]

#: the checkpoint's image processor config, kept in the run folder under its Hugging Face name
PREPROCESSOR_FILE = "preprocessor_config.json"


@dataclass(frozen=True)
class PretrainedImageConfig:
    """``data.task: pretrained-image``: the imported model's input and output.

    Attributes:
        channels: image channels the model takes (``config.json`` ``num_channels``): 3 or 1.
        image_size: (H, W) in pixels (``config.json`` ``image_size``).
        classes: class names by index (``config.json`` ``id2label``); empty for a model without a
            classification head (``ViTModel``).
        max_pixels: the largest image file accepted, width x height in pixels (default 50
            megapixels); larger ones are refused before they are decoded.
    """

    task: str = "pretrained-image"
    channels: int = 3
    image_size: tuple[int, int] = (224, 224)
    classes: tuple[str, ...] = ()
    max_pixels: int = DEFAULT_MAX_PIXELS

    def check(self) -> None:
        if self.channels not in (1, 3):
            raise ConfigError(f"data.channels must be 3 (RGB) or 1 (grey), got {self.channels}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"data.image_size must be [height, width] in pixels, got {list(self.image_size)}")
        if self.max_pixels < 1:
            raise ConfigError(f"data.max_pixels must be >= 1, got {self.max_pixels}")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError("data.classes holds a name twice; class names must be distinct")


class LabelledImage(NamedTuple):
    """An example for :meth:`PretrainedImageTask.evaluate`: an image file and its class index."""

    path: str
    label: int


class _Item(NamedTuple):
    pixels: Tensor  # (C, H, W) float32, as the image processor makes them
    label: int


@dataclass
class PretrainedImageTask:
    """Image classification by an imported checkpoint, as a task plug-in
    (:class:`attnkit.tasks.base.Task`); model family ``vit``. Primary metric: accuracy."""

    config: PretrainedImageConfig
    processing: ImageProcessing

    name = "pretrained-image"
    config_class = PretrainedImageConfig
    default_family = "vit"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "images"
    spec_class = ImageSpec

    @property
    def classes(self) -> list[str]:
        return list(self.config.classes)

    @property
    def capabilities(self) -> TaskCapabilities:
        """An image file in (no options), one of the classes out."""
        return TaskCapabilities(InputKind.IMAGE, (EXPLAIN,), classes=tuple(self.config.classes), pixel_pipeline=True)

    @property
    def spec(self) -> ImageSpec:
        """(C, H, W) and the classes; 0 classes: a model without a head."""
        height, width = self.config.image_size
        return ImageSpec(self.config.channels, height, width, len(self.config.classes))

    def image_processing(self) -> ImageProcessing:
        """The pixel pipeline, as Hugging Face's ``ViTImageProcessor`` (for ``attnkit export-hf``)."""
        return self.processing

    # --- the run folder --------------------------------------------------------------------------
    @classmethod
    def build(cls, cfg: PretrainedImageConfig, run_dir: Path) -> tuple[PretrainedImageTask, dict[str, list]]:
        """Refused: the task's runs are imported.

        Raises:
            attnkit.errors.ConfigError: always.
        """
        raise ConfigError(
            "data.task=pretrained-image runs are imported, not trained: "
            "`attnkit import-hf CHECKPOINT_DIR --out RUN` makes one from a Hugging Face ViT"
        )

    @classmethod
    def load(cls, cfg: PretrainedImageConfig, run_dir: str | Path) -> PretrainedImageTask:
        """The task with the run's image processor (``preprocessor_config.json``; without one,
        ``ViTImageProcessor``'s defaults at the model's size).

        Raises:
            attnkit.errors.ConfigError: for an unreadable or unsupported ``preprocessor_config.json``.
        """
        return cls(cfg, processing_of(Path(run_dir) / PREPROCESSOR_FILE, cfg.image_size, cfg.channels))

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list:
        """Refused: an imported run has no data splits.

        Raises:
            attnkit.errors.ConfigError: always.
        """
        raise ConfigError(
            f"{run_dir} was imported from a Hugging Face checkpoint and has no {split} split; "
            "score labelled images from Python with PretrainedImageTask.evaluate"
        )

    # --- training items (evaluation from Python) -------------------------------------------------
    def encode(self, examples: Sequence[LabelledImage]) -> list[_Item]:
        """Read each example's file.

        Raises:
            attnkit.errors.InputError: for a file that cannot be read (:meth:`read`).
        """
        return [_Item(torch.from_numpy(self.read(e.path)[0]), int(e.label)) for e in examples]

    @staticmethod
    def lengths(item: _Item) -> tuple[int, int]:
        return item.pixels.numel(), 1

    @staticmethod
    def loss_weight(item: _Item) -> int:
        return 1

    @staticmethod
    def collate(items: Sequence[_Item]) -> tuple[Tensor, Tensor]:
        """(pixels (B, C, H, W) float32, labels (B,) long)."""
        return torch.stack([it.pixels for it in items]), torch.tensor([it.label for it in items], dtype=torch.long)

    @staticmethod
    def loss(model: nn.Module, batch: tuple[Tensor, Tensor], ctx: LossContext) -> Tensor:
        """Summed cross-entropy of the labels (label smoothing from the train config)."""
        images, labels = batch
        return F.cross_entropy(
            model(images).logits.float(), labels, reduction="sum", label_smoothing=ctx.train.label_smoothing
        )

    # --- evaluation and prediction ---------------------------------------------------------------
    def read(self, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """An image file as the model's input (C, H, W) float32 and as shown, grey (H, W) in [0, 1].

        Raises:
            attnkit.errors.InputError: one line for a missing or unreadable file, or one over
                ``data.max_pixels`` pixels or refused by Pillow as a decompression bomb.
        """
        return self.processing.read(path, max_pixels=self.config.max_pixels)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, examples: Sequence[LabelledImage], *, batch_size: int = 64, decode: Any = None
    ) -> tuple[dict[str, Any], list[ClassLabel]]:
        """Accuracy, macro-F1 and per-class accuracy of labelled image files, and one
        :class:`~attnkit.tasks.classification.ClassLabel` each.

        Raises:
            attnkit.errors.ConfigError: for a model without a classification head.
            attnkit.errors.InputError: for an unreadable file or a label outside the classes.
        """
        if not self.classes:
            raise ConfigError("this model has no classification head (a ViTModel): there is nothing to score")
        if any(not 0 <= e.label < len(self.classes) for e in examples):
            raise InputError(f"labels must be class indices 0..{len(self.classes) - 1}")
        batches = (
            self.collate(self.encode(examples[i : i + batch_size]))[0] for i in range(0, len(examples), batch_size)
        )
        return score_classifier(model, batches, [e.label for e in examples], self.classes)

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return classification_report(metrics, "images", detailed=detailed)

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[ImagePrediction]:
        """The class of each image file (read as ``ViTImageProcessor`` reads it), its probability
        and every class's, with the model's attention maps over the picture (rollout and the last
        layer's class-token row). A model without a head predicts no class: the output line says
        so, the probability is 0 and the probabilities are empty.

        Raises:
            attnkit.errors.InputError: for an option (this task takes none), no input, or a file
                :meth:`read` refuses; every input is checked before any prediction.
        """
        unknown = set(options) - {"explain"}
        if unknown:
            raise InputError(f"unknown option {', '.join(sorted(unknown))} for task {self.name}; it takes explain=NAME")
        explain = explain_option(model, options)
        if explain == "grad" and not self.classes:
            raise InputError("option explain=grad explains a class logit; this checkpoint has no classification head")
        if not inputs:
            raise InputError("no input images")
        read = [self.read(path) for path in inputs]
        x = torch.from_numpy(np.stack([pixels for pixels, _ in read]))
        with torch.no_grad():
            out = model(x.to(next(model.parameters()).device), need_weights=True)
        probs = torch.softmax(out.logits.float(), dim=-1).cpu() if self.classes else None
        shown = [picture for _, picture in read]
        preds = [self._prediction(out, b, None if probs is None else probs[b], shown[b]) for b in range(len(read))]
        add_explanation(model, x, explain, preds)
        return preds

    def _prediction(self, out: Any, b: int, p: Tensor | None, image: np.ndarray) -> ImagePrediction:
        maps = {name: heat.numpy() for name, heat in out.attention_maps(b).maps.items()}  # the family reads its maps
        if p is None:
            return ImagePrediction("no class: the checkpoint has no classification head", 0.0, [], image, maps)
        k = int(p.argmax())
        return ImagePrediction(self.classes[k], float(p[k]), p.tolist(), image, maps)


def processing_of(path: Path, size: tuple[int, int], channels: int) -> ImageProcessing:
    """The image processor a ``preprocessor_config.json`` at `path` describes for a model taking
    (channels, *size) images; ``ViTImageProcessor``'s defaults when there is no such file.

    Raises:
        attnkit.errors.ConfigError: one line, for an unreadable file or an unsupported field.
    """
    if not path.is_file():
        return ImageProcessing.defaults(tuple(size), channels)  # type: ignore[arg-type]
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("it must hold a JSON object")
        return ImageProcessing.from_hf(raw, tuple(size), channels)  # type: ignore[arg-type]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{path}: {first}") from None
