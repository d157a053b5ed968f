"""Hugging Face ViT (``model_type: vit``) into attnkit's :class:`~attnkit.models.VisionTransformer`
and back [Dosovitskiy21].

Import. ``ViTModel`` and ``ViTForImageClassification`` checkpoints become runs of task
``pretrained-image`` (:mod:`attnkit.tasks.pretrained_image`) and family ``vit``: the conv patch
embedding, class token and learned position embeddings, pre-LN blocks (HF's ``query`` / ``key`` /
``value`` packed into attnkit's ``in_proj``), the final LayerNorm, the classifier on the class
token, and a ``ViTModel``'s pooler. ``config.json`` gives the sizes, ``layer_norm_eps``,
``hidden_act`` and the class names (``id2label``); ``preprocessor_config.json`` is kept in the run
folder for the task's pixel pipeline.

Export. A ``vit`` run (attnkit's own, e.g. on Fashion-MNIST with one channel, or an imported one)
becomes a ``ViTForImageClassification`` folder (a ``ViTModel`` one for a model without a head):
``config.json`` with ``id2label``, ``model.safetensors`` under HF's names and a
``preprocessor_config.json`` reproducing the task's own normalisation (the task's
``image_processing()``). ``transformers`` loads it with the same logits and attentions.

Differences from the Hugging Face implementation (both ways): attnkit has one ``dropout`` for
HF's ``hidden_dropout_prob`` and ``attention_probs_dropout_prob`` (the larger is kept on import;
no effect in evaluation); ``qkv_bias: false`` is imported as zero biases (exact); HF's mask token
(``ViTForMaskedImageModeling``) and position-embedding interpolation are not carried over; an
attnkit ViT classifying a pooled state (``model.pooler`` with classes) has no HF counterpart.

References:
    [Dosovitskiy21] A. Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale. ICLR 2021. arXiv:2010.11929.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from safetensors.torch import save_file
from torch import Tensor

from ..data.hf_image import ImageProcessing
from ..errors import ConfigError
from ..models.vit import VisionTransformer
from ..tasks.pretrained_image import PREPROCESSOR_FILE, processing_of
from .base import EXPORTERS, IMPORTERS, Checkpoint, ConversionError, Converted

__all__ = ["ViTImporter", "ViTExporter", "ImageProcessingTask"]

log = logging.getLogger(__name__)

# HF hidden_act -> attnkit activation (gelu_new / gelu_fast / gelu_pytorch_tanh: the same tanh approximation)
_ACT_IN = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
_ACT_OUT = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu", "silu": "silu"}
_IGNORED = ("embeddings.mask_token",)  # ViTModel(use_mask_token=True): only for masked image modelling


class ImageProcessingTask(Protocol):
    """An image task that can state its pixel pipeline as Hugging Face's ``ViTImageProcessor``
    (declared by ``TaskCapabilities.pixel_pipeline``, checked when the run loads)."""

    def image_processing(self) -> ImageProcessing: ...


def _pair(value: Any, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ConversionError(f"config.json: {name}={value!r} is not a positive size or [height, width]")
    return int(pair[0]), int(pair[1])


def _hf_to_attnkit(layers: int) -> dict[str, str]:
    """HF name (without the ``vit.`` prefix) -> attnkit name, for every weight but q / k / v."""
    names = {
        "embeddings.patch_embeddings.projection.weight": "patch_embedding.weight",
        "embeddings.patch_embeddings.projection.bias": "patch_embedding.bias",
        "embeddings.cls_token": "class_token",
        "embeddings.position_embeddings": "positions",
        "layernorm.weight": "norm.weight",
        "layernorm.bias": "norm.bias",
        "pooler.dense.weight": "pooler.weight",
        "pooler.dense.bias": "pooler.bias",
    }
    for i in range(layers):
        hf, ak = f"encoder.layer.{i}.", f"layers.{i}."
        for part in ("weight", "bias"):
            names[f"{hf}layernorm_before.{part}"] = f"{ak}sub1.norm.{part}"
            names[f"{hf}attention.output.dense.{part}"] = f"{ak}self_attn.out_proj.{part}"
            names[f"{hf}layernorm_after.{part}"] = f"{ak}sub2.norm.{part}"
            names[f"{hf}intermediate.dense.{part}"] = f"{ak}ff.0.{part}"
            names[f"{hf}output.dense.{part}"] = f"{ak}ff.3.{part}"
    return names


class ViTImporter:
    """``ViTModel`` / ``ViTForImageClassification`` checkpoints -> task ``pretrained-image``, family ``vit``."""

    description = "ViTModel / ViTForImageClassification"

    def convert(self, ckpt: Checkpoint) -> Converted:
        """The run config, attnkit weights and the image processor file of `ckpt`.

        Raises:
            ConversionError: one line naming a config field or weight attnkit's ViT cannot
                represent (non-square patches, another activation or pooler activation, unknown
                weights, wrong shapes, an unsupported ``preprocessor_config.json``).
        """
        config = self._config(ckpt.config, ckpt.weights)
        weights = self._weights(ckpt.weights, config)
        self._check_against_model(weights, config)
        files = {}
        pre = ckpt.path / PREPROCESSOR_FILE
        data = config["data"]
        try:
            processing_of(pre, tuple(data["image_size"]), data["channels"])
        except ConfigError as err:
            raise ConversionError(str(err)) from None
        if pre.is_file():
            files[PREPROCESSOR_FILE] = pre
        return Converted(config, weights, files)

    @staticmethod
    def _config(hf: dict[str, Any], weights: dict[str, Tensor]) -> dict[str, Any]:
        strip = _prefix(weights)
        height, width = _pair(hf.get("image_size", 224), "image_size")
        patch_h, patch_w = _pair(hf.get("patch_size", 16), "patch_size")
        if patch_h != patch_w:
            raise ConversionError(f"config.json: patch_size {patch_h} x {patch_w}: attnkit's ViT takes square patches")
        act = hf.get("hidden_act", "gelu")
        if act not in _ACT_IN:
            raise ConversionError(
                f"config.json: hidden_act={act!r} has no attnkit counterpart; supported: {', '.join(_ACT_IN)}"
            )
        pooler = 0  # HF's ViTForImageClassification has no pooler and ignores pooler weights in its checkpoint
        if strip + "pooler.dense.weight" in weights and "classifier.weight" not in weights:
            if hf.get("pooler_act", "tanh") != "tanh":
                raise ConversionError(f"config.json: pooler_act={hf['pooler_act']!r}; attnkit's ViT pooler is tanh")
            pooler = int(weights[strip + "pooler.dense.weight"].shape[0])
        classes: list[str] = []
        if "classifier.weight" in weights:
            n = int(weights["classifier.weight"].shape[0])
            id2label = hf.get("id2label") or {}
            try:
                classes = [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(n)]
            except AttributeError:
                raise ConversionError("config.json: id2label must map class indices to names") from None
            if n == 0:
                raise ConversionError("config.json: a classifier with no classes; save the model as a ViTModel")
        dropout = max(float(hf.get("hidden_dropout_prob", 0.0)), float(hf.get("attention_probs_dropout_prob", 0.0)))
        model = {
            "arch": "vit",
            "patch_size": patch_h,
            "d_model": int(hf.get("hidden_size", 768)),
            "n_heads": int(hf.get("num_attention_heads", 12)),
            "layers": int(hf.get("num_hidden_layers", 12)),
            "d_ff": int(hf.get("intermediate_size", 3072)),
            "dropout": dropout,
            "eps": float(hf.get("layer_norm_eps", 1e-12)),
            "activation": _ACT_IN[act],
            "pooler": pooler,
        }
        data = {
            "task": "pretrained-image",
            "channels": int(hf.get("num_channels", 3)),
            "image_size": [height, width],
            "classes": classes,
        }
        return {"data": data, "model": model}

    @staticmethod
    def _weights(hf: dict[str, Tensor], config: dict[str, Any]) -> dict[str, Tensor]:
        strip, layers = _prefix(hf), config["model"]["layers"]
        names = _hf_to_attnkit(layers)
        names.update({"classifier.weight": "head.weight", "classifier.bias": "head.bias"})
        if not config["model"]["pooler"]:  # pooler weights beside a classifier: unused, as in transformers
            del names["pooler.dense.weight"], names["pooler.dense.bias"]
        out: dict[str, Tensor] = {}
        used = set()
        for key, tensor in hf.items():
            bare = key[len(strip) :] if key.startswith(strip) else key
            if bare in names:
                out[names[bare]] = tensor
                used.add(key)
        for i in range(layers):
            parts = [f"{strip}encoder.layer.{i}.attention.attention.{p}" for p in ("query", "key", "value")]
            missing = [f"{p}.weight" for p in parts if f"{p}.weight" not in hf]
            if missing:
                raise ConversionError(f"model.safetensors has no {missing[0]}; is this a ViT checkpoint?")
            out[f"layers.{i}.self_attn.in_proj.weight"] = torch.cat([hf[f"{p}.weight"] for p in parts])  # (3D, D)
            biases = [hf.get(f"{p}.bias", torch.zeros(hf[f"{p}.weight"].shape[0])) for p in parts]  # qkv_bias: false
            out[f"layers.{i}.self_attn.in_proj.bias"] = torch.cat(biases)  # (3D,)
            used.update(f"{p}.{w}" for p in parts for w in ("weight", "bias"))
        ignored = _IGNORED + (() if config["model"]["pooler"] else ("pooler.dense.weight", "pooler.dense.bias"))
        unknown = sorted(k for k in hf if k not in used and k[len(strip) :] not in ignored)
        if unknown:
            raise ConversionError(
                f"model.safetensors holds weights attnkit's ViT does not use ({unknown[0]}"
                f"{f' and {len(unknown) - 1} more' if len(unknown) > 1 else ''}); "
                "attnkit imports ViTModel and ViTForImageClassification checkpoints"
            )
        return {k: v.float() for k, v in out.items()}

    @staticmethod
    def _check_against_model(weights: dict[str, Tensor], config: dict[str, Any]) -> None:
        """ConversionError naming the first weight missing or of another shape than attnkit's ViT
        of that config needs (built on the meta device: no memory, no time)."""
        data, model = config["data"], config["model"]
        try:
            with torch.device("meta"):
                vit = VisionTransformer(
                    data["channels"],
                    len(data["classes"]),
                    tuple(data["image_size"]),
                    **{k: v for k, v in model.items() if k != "arch"},
                )
        except ValueError as err:
            raise ConversionError(f"config.json: {err}") from None
        for name, param in vit.state_dict().items():
            if name not in weights:
                raise ConversionError(f"model.safetensors lacks the weight attnkit's {name} is made of")
            if tuple(weights[name].shape) != tuple(param.shape):
                raise ConversionError(
                    f"model.safetensors: {name} is {tuple(weights[name].shape)}, config.json says {tuple(param.shape)}"
                )


def _prefix(weights: dict[str, Tensor]) -> str:
    """``"vit."`` for a ``ViTForImageClassification`` checkpoint, ``""`` for a ``ViTModel``."""
    return "vit." if any(k.startswith("vit.") for k in weights) else ""


class ViTExporter:
    """A ``vit`` run -> a ``ViTForImageClassification`` (or, without classes, ``ViTModel``) folder."""

    description = "ViTForImageClassification / ViTModel"

    def export(self, run: Any, out: Path) -> None:
        """Write ``config.json``, ``model.safetensors`` and ``preprocessor_config.json`` of the
        loaded ``vit`` run into the empty folder `out`.

        Raises:
            ConversionError: for a model HF's ViT cannot represent (a classifier on a pooled state)
                or a task that does not state its pixel pipeline (``image_processing()``).
        """
        cfg, spec, model = run.config.model, run.task.spec, run.model
        if cfg.pooler and spec.n_classes:
            raise ConversionError(
                "model.pooler: HF ViTForImageClassification classifies the class token's state without "
                "a pooler; export a vit run without model.pooler"
            )
        if not run.capabilities.task.pixel_pipeline:
            raise ConversionError(
                f"task {run.config.data.task} does not state its pixel pipeline (image_processing()), "
                "so no preprocessor_config.json can be written for it"
            )
        if not cfg.pooler and not spec.n_classes:
            log.warning(
                "%s has neither a head nor a pooler: transformers' ViTModel will load its last hidden states "
                "as they are but initialise a random pooler (pooler_output means nothing)",
                run.path,
            )
        processing = cast(ImageProcessingTask, run.task).image_processing()
        classes = list(run.capabilities.task.classes)
        if spec.n_classes and len(classes) != spec.n_classes:
            classes = [f"LABEL_{i}" for i in range(spec.n_classes)]
        (out / "config.json").write_text(json.dumps(_hf_config(cfg, spec, classes), indent=2) + "\n", encoding="utf-8")
        (out / PREPROCESSOR_FILE).write_text(json.dumps(processing.to_hf(), indent=2) + "\n", encoding="utf-8")
        tensors = _hf_weights(model.state_dict(), cfg.layers, cfg.d_model, bool(spec.n_classes))
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
            str(out / "model.safetensors"),
            {"format": "pt"},
        )


def _hf_config(cfg: Any, spec: Any, classes: list[str]) -> dict[str, Any]:
    height, width = spec.height, spec.width
    hf: dict[str, Any] = {
        "architectures": ["ViTForImageClassification" if spec.n_classes else "ViTModel"],
        "model_type": "vit",
        "hidden_size": cfg.d_model,
        "num_hidden_layers": cfg.layers,
        "num_attention_heads": cfg.n_heads,
        "intermediate_size": cfg.d_ff,
        "hidden_act": _ACT_OUT[cfg.activation],
        "hidden_dropout_prob": cfg.dropout,
        "attention_probs_dropout_prob": cfg.dropout,
        "initializer_range": 0.02,
        "layer_norm_eps": cfg.eps,
        "image_size": height if height == width else [height, width],
        "patch_size": cfg.patch_size,
        "num_channels": spec.channels,
        "qkv_bias": True,
        "encoder_stride": cfg.patch_size,
        "pooler_output_size": cfg.pooler or cfg.d_model,
        "pooler_act": "tanh",
        "dtype": "float32",
    }
    if spec.n_classes:
        hf["id2label"] = {str(i): name for i, name in enumerate(classes)}
        hf["label2id"] = {name: i for i, name in enumerate(classes)}
    return hf


def _hf_weights(state: dict[str, Tensor], layers: int, d_model: int, head: bool) -> dict[str, Tensor]:
    prefix = "vit." if head else ""
    back = {ak: hf for hf, ak in _hf_to_attnkit(layers).items()}
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if name.startswith("head."):
            out["classifier." + name.split(".", 1)[1]] = tensor
        elif ".self_attn.in_proj." in name:
            i, part = name.split(".")[1], name.rsplit(".", 1)[1]
            for role, chunk in zip(("query", "key", "value"), tensor.split(d_model)):  # (D, D) / (D,) each
                out[f"{prefix}encoder.layer.{i}.attention.attention.{role}.{part}"] = chunk
        else:
            out[prefix + back[name]] = tensor
    return out


IMPORTERS.register("vit", ViTImporter(), "ViTModel / ViTForImageClassification", "[Dosovitskiy21]")
EXPORTERS.register("vit", ViTExporter(), "Vision Transformer -> ViTForImageClassification", "[Dosovitskiy21]")
