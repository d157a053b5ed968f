"""The pixel values a Hugging Face ``ViTImageProcessor`` makes of an image file, with Pillow and numpy.

``preprocessor_config.json`` of a ViT checkpoint describes the steps, applied in this order to
the image as 8-bit RGB (transparency composited onto white, as ``convert_to_rgb``; grey for a
one-channel model):

1. resize to ``size`` (height x width) with Pillow's filter ``resample`` (if ``do_resize``);
2. rescale: x = float32(float64(pixel) * ``rescale_factor``) (if ``do_rescale``);
3. normalise per channel c: x = (x - ``image_mean``[c]) / ``image_std``[c] in float32 (if ``do_normalize``).

This is exactly ``ViTImageProcessor``'s Pillow backend (``ViTImageProcessorPil`` of transformers
5; its torchvision backend resizes with torchvision instead and may differ by a grey level), so
the pixel values are equal, not only close. Steps other processors add (``do_center_crop``,
``shortest_edge`` sizes, padding) are refused with a one-line error naming the field.

Images of more than ``max_pixels`` pixels are refused before they are decoded (Pillow reads only
the header), and so is what Pillow itself calls a decompression bomb.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InputError

__all__ = ["ImageProcessing", "DEFAULT_MAX_PIXELS", "RESAMPLE_NAMES"]

#: the default largest image accepted, in pixels (width x height): 50 megapixels
DEFAULT_MAX_PIXELS = 50_000_000

#: Pillow's ``Image.Resampling`` values, as ``preprocessor_config.json`` stores them
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}

# fields of a ViTImageProcessor config that change nothing here (bookkeeping, or steps left off)
_IGNORED = {"image_processor_type", "processor_class", "feature_extractor_type", "do_convert_rgb"}
_OFF_UNLESS_FALSE = ("do_center_crop", "do_pad", "do_reduce_labels")


@dataclass(frozen=True)
class ImageProcessing:
    """``ViTImageProcessor``'s pixel pipeline for a model taking (C, H, W) images.

    Attributes:
        size: (H, W) of the model's input, in pixels.
        channels: C, 3 (RGB) or 1 (grey).
        do_resize: resize to `size` first; if False the image must already have that size.
        resample: Pillow's resampling filter (:data:`RESAMPLE_NAMES`; 2 = bilinear).
        do_rescale: multiply the 8-bit values by `rescale_factor`.
        rescale_factor: usually 1 / 255.
        do_normalize: subtract `image_mean` and divide by `image_std`, per channel.
        image_mean, image_std: C values each.
    """

    size: tuple[int, int]
    channels: int = 3
    do_resize: bool = True
    resample: int = 2
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    image_std: tuple[float, ...] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"images of {self.channels} channels: only RGB (3) and grey (1) images are read")
        if self.resample not in RESAMPLE_NAMES:
            raise ValueError(f"resample={self.resample} is not a Pillow filter; choose one of {sorted(RESAMPLE_NAMES)}")
        for name in ("image_mean", "image_std"):
            if len(getattr(self, name)) != self.channels:
                raise ValueError(f"{name} has {len(getattr(self, name))} values for {self.channels} channels")
        if any(s == 0 for s in self.image_std):
            raise ValueError("image_std holds a 0; a normalisation cannot divide by it")

    @classmethod
    def defaults(cls, size: tuple[int, int], channels: int) -> ImageProcessing:
        """``ViTImageProcessor()``'s defaults at the model's size: bilinear, 1 / 255, mean and std 0.5."""
        return cls(tuple(size), channels, image_mean=(0.5,) * channels, image_std=(0.5,) * channels)  # type: ignore[arg-type]

    @classmethod
    def from_hf(cls, raw: Mapping[str, Any], size: tuple[int, int], channels: int) -> ImageProcessing:
        """The pipeline a ``preprocessor_config.json`` describes, for a model taking (channels, *size).

        Args:
            raw: the JSON object; fields left out take ``ViTImageProcessor``'s defaults.
            size: (H, W) the model takes.
            channels: C the model takes.

        Raises:
            ValueError: one line naming a field that describes another processor (a centre crop,
                ``shortest_edge``), or a size other than the model's.
        """
        for name in _OFF_UNLESS_FALSE:
            if raw.get(name):
                raise ValueError(f"preprocessor_config.json: {name}=true is not part of ViTImageProcessor's pipeline")
        target = tuple(size)
        if "size" in raw and raw["size"] is not None:
            given = raw["size"]
            if isinstance(given, int):
                given = {"height": given, "width": given}
            if not isinstance(given, Mapping) or set(given) - {"height", "width"} or len(given) != 2:
                raise ValueError(f"preprocessor_config.json: size {given!r} is not {{'height': H, 'width': W}}")
            target = (int(given["height"]), int(given["width"]))
        do_resize = bool(raw.get("do_resize", True))
        if do_resize and target != tuple(size):
            raise ValueError(
                f"preprocessor_config.json resizes to {target[0]} x {target[1]} but the model takes "
                f"{size[0]} x {size[1]} images (position embeddings are not interpolated)"
            )

        def per_channel(name: str) -> tuple[float, ...]:
            value = raw.get(name, 0.5)
            values = [value] * channels if isinstance(value, (int, float)) else list(value)
            if len(values) != channels:
                raise ValueError(f"preprocessor_config.json: {name} has {len(values)} values for {channels} channels")
            return tuple(float(v) for v in values)

        return cls(
            tuple(size),  # type: ignore[arg-type]
            channels,
            do_resize=do_resize,
            resample=int(raw.get("resample", 2)),
            do_rescale=bool(raw.get("do_rescale", True)),
            rescale_factor=float(raw.get("rescale_factor", 1 / 255)),
            do_normalize=bool(raw.get("do_normalize", True)),
            image_mean=per_channel("image_mean"),
            image_std=per_channel("image_std"),
        )

    def to_hf(self) -> dict[str, Any]:
        """This pipeline as a ``preprocessor_config.json`` that ``ViTImageProcessor`` reads."""
        return {
            "image_processor_type": "ViTImageProcessor",
            "do_resize": self.do_resize,
            "size": {"height": self.size[0], "width": self.size[1]},
            "resample": self.resample,
            "do_rescale": self.do_rescale,
            "rescale_factor": self.rescale_factor,
            "do_normalize": self.do_normalize,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
        }

    def pixel_values(self, image: Any) -> np.ndarray:
        """The model's input of a Pillow image: (C, H, W) float32, as ``ViTImageProcessor``.

        Raises:
            attnkit.errors.InputError: if the processor does not resize and the image has another size.
        """
        return self._values(self._prepared(image))

    def _prepared(self, image: Any) -> Any:
        """Step 1: `image` in the model's mode, resized (or checked to have the model's size)."""
        image = _as_mode(image, "RGB" if self.channels == 3 else "L")
        if self.do_resize:
            from PIL import Image

            return image.resize((self.size[1], self.size[0]), resample=Image.Resampling(self.resample))
        if (image.height, image.width) != tuple(self.size):
            raise InputError(
                f"image of {image.height} x {image.width} pixels: this model takes {self.size[0]} x "
                f"{self.size[1]} and its preprocessor does not resize; resize the image first"
            )
        return image

    def _values(self, image: Any) -> np.ndarray:
        """Steps 2 and 3 on a prepared Pillow image: (C, H, W) float32."""
        x = np.asarray(image)
        x = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)  # (C, H, W) uint8
        if self.do_rescale:
            x = (x.astype(np.float64) * self.rescale_factor).astype(np.float32)  # as transformers' rescale
        else:
            x = x.astype(np.float32)
        if self.do_normalize:
            mean = np.asarray(self.image_mean, dtype=np.float32)[:, None, None]
            std = np.asarray(self.image_std, dtype=np.float32)[:, None, None]
            x = (x - mean) / std
        return np.ascontiguousarray(x, dtype=np.float32)

    def read(self, path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, np.ndarray]:
        """An image file's pixel values (C, H, W) float32 and the picture the model saw, grey
        (H, W) in [0, 1] (for overlays).

        Raises:
            attnkit.errors.InputError: one line, for a missing or unreadable file, or an image of
                more than `max_pixels` pixels (or a decompression bomb by Pillow's own limit).
        """
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise InputError(
                        f"{path}: {width} x {height} = {width * height:,} pixels, over the limit of "
                        f"{max_pixels:,} (data.max_pixels); make the image smaller first"
                    )
                img.load()
                prepared = self._prepared(img)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file; give the path of a PNG or JPEG image") from None
        except Image.DecompressionBombError as err:
            raise InputError(f"{path}: refused by Pillow as a decompression bomb ({err})") from None
        except (UnidentifiedImageError, OSError) as err:
            raise InputError(f"{path}: not an image Pillow can read ({err})") from None
        shown = np.asarray(prepared.convert("L"), dtype=np.float32) / 255.0  # (H, W), luma of what the model saw
        return self._values(prepared), shown


def _as_mode(image: Any, mode: str) -> Any:
    """`image` in Pillow mode `mode` ("RGB" or "L"); transparency composited onto white first, as
    transformers' ``convert_to_rgb``."""
    from PIL import Image

    if image.mode == mode:
        return image
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert(mode)
