"""Reading a Hugging Face checkpoint folder without unpickling anything.

A folder holds ``config.json`` and the weights as ``model.safetensors`` (or shards listed by
``model.safetensors.index.json``), read with the ``safetensors`` library. Weights saved only as
``pytorch_model.bin`` (a pickle), TensorFlow ``tf_model.h5`` or Flax ``flax_model.msgpack`` are
refused with a one-line :class:`~attnkit.pretrained.base.ConversionError` saying how to re-save
them as safetensors; attnkit never calls ``torch.load`` on a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from .base import IMPORTERS, Checkpoint, ConversionError

__all__ = ["read_checkpoint", "supported_types"]

_SAFETENSORS = "model.safetensors"
_INDEX = "model.safetensors.index.json"
# weight files of other formats, which attnkit does not read (pickles are never loaded)
_OTHER_FORMATS = (
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "tf_model.h5",
    "flax_model.msgpack",
    "model.ckpt.index",
)


def supported_types() -> str:
    """The registered Hugging Face ``model_type`` values, for error messages."""
    return ", ".join(entry.name for entry in IMPORTERS) or "none registered"


def _convert_hint(path: Path) -> str:
    return (
        f'python -c "from transformers import AutoModel; '
        f"AutoModel.from_pretrained('{path}').save_pretrained('{path}', safe_serialization=True)\""
    )


def _read_config(path: Path) -> dict[str, Any]:
    file = path / "config.json"
    if not file.is_file():
        raise ConversionError(f"{file} not found; a Hugging Face checkpoint folder needs config.json")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConversionError(f"{file} is not readable JSON ({first})") from None
    if not isinstance(config, dict):
        raise ConversionError(f"{file} must hold a JSON object, got {type(config).__name__}")
    return config


def _load(file: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConversionError(f"{file} is not a readable safetensors file ({first})") from None


def _read_sharded(path: Path) -> dict[str, Tensor]:
    index = path / _INDEX
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise ConversionError(f"{index} is not a safetensors index with a weight_map ({err})") from None
    weights: dict[str, Tensor] = {}
    for shard in shards:
        file = path / str(shard)
        if Path(str(shard)).name != str(shard) or not file.is_file():
            raise ConversionError(f"{file} not found; {index} lists it as a shard")
        weights.update(_load(file))
    missing = sorted(set(weight_map) - set(weights))
    if missing:
        raise ConversionError(f"{index} lists {missing[0]} but no shard holds it")
    return weights


def _read_weights(path: Path) -> dict[str, Tensor]:
    if (path / _SAFETENSORS).is_file():
        return _load(path / _SAFETENSORS)
    if (path / _INDEX).is_file():
        return _read_sharded(path)
    other = [name for name in _OTHER_FORMATS if (path / name).is_file()]
    if other:
        raise ConversionError(
            f"{path} holds {other[0]}, which attnkit does not read (it never unpickles weights); "
            f"convert it to safetensors first: {_convert_hint(path)}"
        )
    raise ConversionError(f"{path / _SAFETENSORS} not found (nor {_INDEX}); save the model with safe_serialization")


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The config and weights of a local Hugging Face checkpoint folder.

    Args:
        path: a folder written by ``save_pretrained`` (``config.json`` and ``model.safetensors``
            or a sharded ``model.safetensors.index.json``).

    Returns:
        The :class:`~attnkit.pretrained.base.Checkpoint`: its folder, ``config.json`` as a dict and
        every tensor by its Hugging Face name.

    Raises:
        ConversionError: one line for a missing folder, ``config.json`` or weights; for weights in
            another format (``pytorch_model.bin``: how to convert them); for a ``model_type``
            without an importer (listing the supported ones).
    """
    path = Path(path)
    if not path.is_dir():
        raise ConversionError(f"checkpoint folder {path} not found; give a folder written by save_pretrained")
    config = _read_config(path)
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in {entry.name for entry in IMPORTERS}:
        what = f"model_type {model_type!r}" if model_type else "no model_type"
        raise ConversionError(f"{path / 'config.json'} has {what}; attnkit imports: {supported_types()}")
    return Checkpoint(path, config, _read_weights(path))
