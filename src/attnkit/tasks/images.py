"""Image classification tasks on real Fashion-MNIST: the 28 x 28 images as they are
(``fashion-mnist``), and distorted canvases for spatial attention (``fashion-canvas``).

Data. The 70,000 images come from Debian's ``dataset-fashion-mnist`` [Xiao17]
(:func:`attnkit.data.fashion_mnist.load_fashion_mnist`). ``dev_size`` images of the 60,000
training images are held out for validation, the same share of every class (a seeded,
stratified draw); the 10,000 test images are the test split. ``train_size`` / ``test_size``
take stratified subsets, for quick runs and tests. For ``fashion-canvas`` every image of a split
is rotated, scaled and placed on a larger canvas with clutter cut from other images *of the same
split* (:func:`attnkit.data.canvas.make_canvases`), in the spirit of the cluttered-MNIST
experiments of [Jaderberg15] Sec. 4.1; each split has its own seed, so no test image and no
test clutter is ever seen in training.

Run folder. Nothing but indices is copied: ``dataset.json`` holds the config, the sha256 of
the source images and labels (as decoded, so a gzipped and a plain copy agree), the split sizes
per class, the training set's pixel mean and standard deviation, and for canvases the sha256 of
every split's canvas pixels; ``data/{split}.json`` holds the source indices of each split (and,
for canvases, each example's transform). Loading a split re-reads the source files and re-makes
the canvases, and fails with a one-line error if the files or the canvases differ from the ones
the run was trained on. Reading image files, the split draws, pixel digests and the canvas
cache (``canvases=`` of ``build`` and ``load_split``) are in :mod:`attnkit.data.images`.

Input to the models: pixels / 255, minus the training mean, over the training standard
deviation, as (B, 1, H, W) float32.

References:
    [Xiao17] H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for
    Benchmarking Machine Learning Algorithms. arXiv:1708.07747, 2017.
    [Jaderberg15] M. Jaderberg et al. Spatial Transformer Networks. NeurIPS 2015. arXiv:1506.02025.
    [Abnar20] S. Abnar, W. Zuidema. Quantifying Attention Flow in Transformers. ACL 2020.
    arXiv:2005.00928.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, NamedTuple, Sequence, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, InputOption, TaskCapabilities
from ..data import fashion_mnist
from ..data.hf_image import ImageProcessing
from ..data.images import CanvasCache, ImageExample, image_examples, pixel_digest, read_image, split_indices
from ..errors import ConfigError, InputError
from ..io import atomic_write_text
from ..models.explain import image_explanation
from ..models.specs import ImageSpec
from ..models.vit import VisionTransformer
from ..predictions import IMAGE_OVERLAY
from ..schema import check_positive, short_repr
from .base import LossContext, PrimaryMetric
from .classification import ClassLabel, classification_report, score_classifier
from .self_attention import EXPLAIN

__all__ = ["FashionConfig", "CanvasConfig", "ImageBatch", "ImagePrediction", "FashionMNISTTask", "FashionCanvasTask"]


@dataclass(frozen=True)
class FashionConfig:
    """``data.task: fashion-mnist``: the split of the real images.

    Attributes:
        root: folder of the IDX files; "" = ``$ATTNKIT_FASHION_MNIST`` or the Debian folder.
        seed: seed of the dev draw and the subsets.
        dev_size: training images held out for validation (stratified).
        train_size: training images kept after the dev draw (stratified); 0 = all.
        test_size: test images (stratified subset); 0 = all 10,000.
    """

    task: str = "fashion-mnist"
    root: str = ""
    seed: int = 1234
    dev_size: int = 5000
    train_size: int = 0
    test_size: int = 0

    def check(self) -> None:
        check_positive(self, "dev_size", section="data")
        for name in ("train_size", "test_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"data.{name} must be >= 0 (0 = all), got {getattr(self, name)}")


@dataclass(frozen=True)
class CanvasConfig(FashionConfig):
    """``data.task: fashion-canvas``: the split, and how each image is distorted and placed.

    Attributes (besides :class:`FashionConfig`'s):
        size: canvas side in pixels.
        max_angle: rotations are uniform in [-max_angle, max_angle], degrees.
        scale_min, scale_max: scale factors are uniform in [scale_min, scale_max].
        n_clutter: clutter patches per canvas, cut from other images of the split.
        clutter_size: side of a clutter patch, in pixels.
    """

    task: str = "fashion-canvas"
    size: int = 60
    max_angle: float = 45.0
    scale_min: float = 0.7
    scale_max: float = 1.2
    n_clutter: int = 4
    clutter_size: int = 8

    def check(self) -> None:
        super().check()
        check_positive(self, "size", "clutter_size", section="data")
        if not 0 < self.scale_min <= self.scale_max:
            raise ConfigError(
                f"data.scale_min and data.scale_max need 0 < min <= max, got {self.scale_min} and {self.scale_max}"
            )
        if round(28 * self.scale_max * 1.4143) > self.size:
            raise ConfigError(
                f"data.size={self.size} is too small for items scaled by up to {self.scale_max} "
                f"and rotated (need >= {round(28 * self.scale_max * 1.4143)} pixels)"
            )
        if self.n_clutter < 0 or not 0 <= self.max_angle <= 180:
            raise ConfigError("data.n_clutter must be >= 0 and data.max_angle in [0, 180] degrees")


class ImageBatch(NamedTuple):
    images: Tensor  # (B, 1, H, W) float32, normalised
    labels: Tensor  # (B,) class indices


@dataclass
class ImagePrediction:
    """The predicted class of one image, with every attention the model used.

    Attributes:
        output: the predicted class's name.
        probability: its probability, in [0, 1].
        probabilities: every class's, (n_classes,).
        image: the image as the model saw it (after resizing), (H, W) in [0, 1].
        maps: name -> attention map over the image, (h, w) non-negative (CBAM spatial gates per
            stage, non-local weights, ViT rollout); drawn over `image`, stretched to its size.
        channel_weights: per stage, channel weights (C_s,) in (0, 1) (SE, ECA, CBAM).
        rectified: the spatial transformer's output, (H, W) in [0, 1]; None without one.
        theta: its affine matrix (2, 3) as nested lists, normalised coordinates; None without one.
        query_map: the name (in `maps`) of the map that option ``query=ROW,COL`` picks (a
            non-local block's); None for models without one.
        query_grid: that map's grid (h, w): a query is a cell ``0 <= ROW < h, 0 <= COL < w``.
        query: the query cell shown, (ROW, COL); None when the map is the mean weight received.
    """

    kind: ClassVar[str] = IMAGE_OVERLAY

    output: str
    probability: float
    probabilities: list[float]
    image: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    channel_weights: list[np.ndarray] = field(default_factory=list)
    rectified: np.ndarray | None = None
    theta: list | None = None
    query_map: str | None = None
    query_grid: tuple[int, int] | None = None
    query: tuple[int, int] | None = None


def _source(cfg: FashionConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return fashion_mnist.load_fashion_mnist(split, root=cfg.root or None)
    except InputError as err:
        raise ConfigError(str(err)) from None


def _make_split(
    cfg: FashionConfig,
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    canvases: CanvasCache | None,
) -> tuple[np.ndarray, np.ndarray, dict | None]:
    """The split's pixels (N, H, W) uint8 and labels; for canvases also the transforms (made
    through `canvases`, or a fresh cache when None)."""
    images, labels = images[indices], labels[indices]
    if not isinstance(cfg, CanvasConfig):
        return images, labels, None
    seed = cfg.seed + {"train": 1, "dev": 2, "test": 3}[split]
    cache = canvases if canvases is not None else CanvasCache(1)
    made = cache.canvases(
        images,
        labels,
        size=cfg.size,
        seed=seed,
        max_angle=cfg.max_angle,
        scale=(cfg.scale_min, cfg.scale_max),
        n_clutter=cfg.n_clutter,
        clutter_size=cfg.clutter_size,
    )
    return made.images, made.labels, made.transforms


# the input options of the image tasks (``--option``, the explorer's options)
INVERT = InputOption("invert", "auto", ("auto", "yes", "no"), "dark-on-light pictures are inverted: auto, yes or no")
QUERY = InputOption("query", "", (), "ROW,COL: the query pixel of a non-local block's map (default: the mean)")


@dataclass
class FashionMNISTTask:
    """Fashion-MNIST classification as a task plug-in (:class:`attnkit.tasks.base.Task`); model
    families ``cnn`` and ``vit``. Primary metric: accuracy (macro-F1 breaks ties); evaluation
    also gives per-class accuracy and the confusion matrix."""

    config: FashionConfig
    mean: float
    std: float
    size: tuple[int, int] = (28, 28)

    name = "fashion-mnist"
    config_class = FashionConfig
    default_family = "cnn"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "images"
    spec_class = ImageSpec
    classes = list(fashion_mnist.CLASSES)

    @property
    def capabilities(self) -> TaskCapabilities:
        """An image file in (options ``invert`` and ``query``), one of the classes out."""
        return TaskCapabilities(
            InputKind.IMAGE, (INVERT, QUERY, EXPLAIN), classes=tuple(self.classes), pixel_pipeline=True
        )

    @property
    def spec(self) -> ImageSpec:
        return ImageSpec(1, self.size[0], self.size[1], len(self.classes))

    def image_processing(self) -> ImageProcessing:
        """The task's input as Hugging Face's ``ViTImageProcessor`` states it (for ``attnkit
        export-hf``): grey, bilinear resize to the task's size, / 255, minus the training mean,
        over its standard deviation. (``predict``'s ``invert`` option has no counterpart there.)"""
        return ImageProcessing(self.size, 1, image_mean=(self.mean,), image_std=(self.std,))

    # --- data and the run folder -------------------------------------------------------------
    @classmethod
    def build(
        cls, cfg: FashionConfig, run_dir: str | Path, *, canvases: CanvasCache | None = None
    ) -> tuple["FashionMNISTTask", dict[str, list]]:
        """Draw the splits, make canvases if asked, and write ``dataset.json`` and
        ``data/{split}.json`` (indices, transforms) into `run_dir`.

        Args:
            cfg: the ``data:`` section.
            run_dir: the run folder.
            canvases: where canvases are looked up and kept (:class:`attnkit.data.images.CanvasCache`);
                pass one cache to every run on the same data in a process to make them once.

        Raises:
            attnkit.errors.ConfigError: if the images are not installed, or the sizes ask for
                more images than there are.
        """
        train_images, train_labels = _source(cfg, "train")
        test_images, test_labels = _source(cfg, "test")
        sources_sha = {
            "train": pixel_digest(train_images, train_labels),
            "test": pixel_digest(test_images, test_labels),
        }
        if cfg.dev_size + max(cfg.train_size, 1) > len(train_labels) or cfg.test_size > len(test_labels):
            raise ConfigError(
                f"data.dev_size + data.train_size must stay within the {len(train_labels)} training "
                f"images and data.test_size within the {len(test_labels)} test images"
            )
        drawn = split_indices(
            train_labels,
            test_labels,
            seed=cfg.seed,
            dev_size=cfg.dev_size,
            train_size=cfg.train_size,
            test_size=cfg.test_size,
        )
        sources = {
            "train": (train_images, train_labels, drawn["train"]),
            "dev": (train_images, train_labels, drawn["dev"]),
            "test": (test_images, test_labels, drawn["test"]),
        }
        splits, meta = {}, {}
        run_dir = Path(run_dir)
        for split, (images, labels, indices) in sources.items():
            pixels, y, transforms = _make_split(cfg, split, images, labels, indices, canvases)
            splits[split] = image_examples(pixels, y, indices)
            meta[split] = {
                "n": len(y),
                "per_class": np.bincount(y, minlength=10).tolist(),
                "sha256": pixel_digest(pixels, y),
            }
            record = {"indices": indices.tolist(), **({"transforms": transforms} if transforms else {})}
            atomic_write_text(run_dir / "data" / f"{split}.json", json.dumps(record))
            if split == "train":
                scaled = pixels.astype(np.float64) / 255.0
                mean, std = float(scaled.mean()), float(scaled.std())
        height, width = splits["train"][0].image.shape
        size = (int(height), int(width))
        info = {
            "config": asdict(cfg),
            "classes": cls.classes,
            "size": list(size),
            "mean": mean,
            "std": std,
            "source_sha256": sources_sha,
            "splits": meta,
        }
        atomic_write_text(run_dir / "dataset.json", json.dumps(info, indent=1))
        return cls(cfg, mean, std, size), splits

    @classmethod
    def load(cls, cfg: FashionConfig, run_dir: str | Path) -> "FashionMNISTTask":
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        height, width = info["size"]
        return cls(cfg, info["mean"], info["std"], (int(height), int(width)))

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str, *, canvases: CanvasCache | None = None) -> list[ImageExample]:
        """The examples of a saved split, re-read from the source files (canvases re-made, or found
        in `canvases`) and checked against the sha256 sums the run recorded.

        Raises:
            attnkit.errors.ConfigError: if the images are missing or differ from the run's.
        """
        run_dir = Path(run_dir)
        info = json.loads((run_dir / "dataset.json").read_text(encoding="utf-8"))
        raw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in info["config"].items()}
        cfg = (CanvasConfig if raw["task"] == FashionCanvasTask.name else FashionConfig)(**raw)
        indices = np.array(
            json.loads((run_dir / "data" / f"{split}.json").read_text(encoding="utf-8"))["indices"], dtype=np.int64
        )
        images, labels = _source(cfg, "test" if split == "test" else "train")
        pixels, y, _ = _make_split(cfg, split, images, labels, indices, canvases)
        if pixel_digest(pixels, y) != info["splits"][split]["sha256"]:
            raise ConfigError(
                f"{run_dir}: the {split} images differ from the ones this run was trained on "
                "(other Fashion-MNIST files, or another version of the canvas code)"
            )
        return image_examples(pixels, y, indices)

    # --- training ------------------------------------------------------------------------------
    @staticmethod
    def encode(examples: Sequence[ImageExample]) -> list[ImageExample]:
        return list(examples)

    @staticmethod
    def lengths(item: ImageExample) -> tuple[int, int]:
        return item.image.numel(), 1

    @staticmethod
    def loss_weight(item: ImageExample) -> int:
        return 1

    def _normalise(self, pixels: Tensor) -> Tensor:
        """uint8 or [0, 1] float (B, H, W) -> normalised (B, 1, H, W) float32."""
        x = pixels.float() / 255.0 if pixels.dtype == torch.uint8 else pixels.float()
        return ((x - self.mean) / self.std).unsqueeze(1)

    def collate(self, items: Sequence[ImageExample]) -> ImageBatch:
        return ImageBatch(
            self._normalise(torch.stack([it.image for it in items])),
            torch.tensor([it.label for it in items], dtype=torch.long),
        )

    @staticmethod
    def loss(model: nn.Module, batch: ImageBatch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy of the labels (label smoothing from the train config)."""
        return F.cross_entropy(
            model(batch.images).logits.float(), batch.labels, reduction="sum", label_smoothing=ctx.train.label_smoothing
        )

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, examples: Sequence[ImageExample], *, batch_size: int = 500, decode: Any = None
    ) -> tuple[dict[str, Any], list[ClassLabel]]:
        """Accuracy, macro-F1, per-class accuracy and the confusion matrix
        (:func:`attnkit.evaluation.classification_metrics`), and one
        :class:`~attnkit.tasks.classification.ClassLabel` each.

        Raises:
            ValueError: for no examples (`decode` is ignored: classification decodes nothing).
        """
        batches = (self.collate(examples[i : i + batch_size]).images for i in range(0, len(examples), batch_size))
        return score_classifier(model, batches, [e.label for e in examples], self.classes)

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return classification_report(metrics, "images", detailed=detailed)

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[ImagePrediction]:
        """The class of each image file (PNG, JPEG, ... read with Pillow, made grey and resized to
        the task's size), with the model's attention maps.

        Options: ``invert=auto|yes|no`` (:func:`attnkit.data.images.read_image`); ``query=ROW,COL`` picks the query
        pixel of a non-local block's map (in that map's grid; default: the mean weight every
        pixel receives).

        Raises:
            attnkit.errors.InputError: for an unreadable file or an unknown option; every input is
                checked before any prediction.
        """
        unknown = set(options) - {"invert", "query", "explain"}
        if unknown:
            raise InputError(
                f"unknown option {', '.join(sorted(unknown))} for task {self.name}; it takes "
                "invert=auto|yes|no, query=ROW,COL and explain=NAME"
            )
        explain = explain_option(model, options)
        invert = options.get("invert", "auto")
        if invert not in ("auto", "yes", "no"):
            raise InputError(f"option invert={invert!r}: choose auto, yes or no")
        query = _parse_query(options.get("query"))
        if not inputs:
            raise InputError("no input images")
        images = [read_image(path, self.size, invert=invert) for path in inputs]
        x = self._normalise(torch.from_numpy(np.stack(images)))
        with torch.no_grad():
            out = model(x.to(next(model.parameters()).device), need_weights=True)
        probs = torch.softmax(out.logits.float(), dim=-1).cpu()
        preds = [self._prediction(out, b, probs[b], images[b], query) for b in range(len(images))]
        add_explanation(model, x, explain, preds)
        return preds

    def _prediction(self, out, b: int, p: Tensor, image: np.ndarray, query) -> ImagePrediction:
        try:
            read = out.attention_maps(b, query)  # the model family reads its own maps
        except ValueError as err:
            raise InputError(str(err)) from None
        maps = {name: heat.numpy() for name, heat in read.maps.items()}
        query_map, query_grid = read.query_map, read.query_grid
        k = int(p.argmax())
        rectified = theta = None
        if out.rectified is not None:
            rectified = (out.rectified[b].float().mean(0).cpu().numpy() * self.std + self.mean).clip(0, 1)
            theta = out.theta[b].float().cpu().tolist()
        return ImagePrediction(
            self.classes[k],
            float(p[k]),
            p.tolist(),
            image,
            maps,
            [c[b].float().cpu().numpy() for c in out.channel_weights],
            rectified,
            theta,
            query_map,
            query_grid,
            None if query_map is None else query,
        )


def _parse_query(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        r, c = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"option query={text!r} must look like ROW,COL, e.g. query=3,4") from None
    return r, c


@dataclass
class FashionCanvasTask(FashionMNISTTask):
    """Classification of distorted Fashion-MNIST canvases (rotated, scaled, placed, cluttered):
    the task where a spatial transformer is expected to help [Jaderberg15] Sec. 4.1."""

    name = "fashion-canvas"
    config_class = CanvasConfig


def explain_option(model: nn.Module, options: Mapping[str, str]) -> str:
    """The ``explain`` option of an image prediction, checked: a name of
    :data:`attnkit.models.explain.EXPLANATIONS`, for a Vision Transformer only.

    Raises:
        attnkit.errors.InputError: for another name, or a model that is not a Vision Transformer.
    """
    name = options.get("explain", "")
    if name and name not in EXPLAIN.choices:
        raise InputError(f"option explain={short_repr(name)}: choose one of {', '.join(EXPLAIN.choices[1:])}")
    if name and not isinstance(model, VisionTransformer):
        raise InputError(f"option explain={name} needs a Vision Transformer run (model.arch: vit)")
    return name


def add_explanation(model: nn.Module, x: Tensor, name: str, preds: Sequence[ImagePrediction]) -> None:
    """Add explanation `name` of each image's class token over the patches to its prediction's
    ``maps`` (as ``"NAME (class token)"``); nothing when `name` is empty."""
    if not name:
        return
    device = next(model.parameters()).device
    for b, pred in enumerate(preds):
        heat = image_explanation(cast(VisionTransformer, model), x[b : b + 1].to(device), name)
        pred.maps[f"{name} (class token)"] = heat.float().cpu().numpy()
