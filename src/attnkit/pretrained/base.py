"""The contract between ``attnkit import-hf`` / ``export-hf`` and the per-architecture converters.

A Hugging Face checkpoint folder (``config.json``, ``model.safetensors``, tokenizer files) becomes a
normal attnkit run folder: ``config.yaml`` (a task and a model family of attnkit, whose ``model:``
section carries the architecture's sizes), ``run.json``, ``model.safetensors`` holding the weights
under attnkit's own parameter names, and the task's files (the tokenizer) copied beside them. From
then on ``load_run``, ``predict``, ``evaluate``, ``explore`` and the Python API treat it like any run.

One :class:`Importer` per Hugging Face ``model_type`` (``config.json``'s field) is registered in
:data:`IMPORTERS`; one :class:`Exporter` per attnkit model family (``model.arch``) in
:data:`EXPORTERS`. Nothing outside a converter branches on an architecture's name.

Layer: 6 (beside ``training``): converters may import models (3), data (4), tasks (5), config and
training (6); the CLI (8) imports this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor

from ..registry import Registry

__all__ = ["Checkpoint", "Converted", "Importer", "Exporter", "IMPORTERS", "EXPORTERS", "ConversionError"]


class ConversionError(ValueError):
    """A checkpoint folder that cannot be imported, or a run that cannot be exported: one line
    naming the problem and the fix (the CLI prints it and exits 2)."""


@dataclass(frozen=True)
class Checkpoint:
    """A Hugging Face checkpoint folder, read without unpickling anything.

    Attributes:
        path: the folder.
        config: ``config.json`` as a dict.
        weights: every tensor of ``model.safetensors`` (or of the shards listed by
            ``model.safetensors.index.json``), by Hugging Face's parameter name.
    """

    path: Path
    config: dict[str, Any]
    weights: dict[str, Tensor]

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))


@dataclass(frozen=True)
class Converted:
    """What a converter returns: the run's config and weights, and the files its task reads.

    Attributes:
        config: the run config as a plain dict with ``data:`` (``task`` first) and ``model:``
            (``arch`` first) sections and optionally ``train:``; written as ``config.yaml`` and
            loaded strictly like any config.
        weights: the attnkit model's ``state_dict`` (every key, strict loading).
        files: files to copy into the run folder: destination name relative to the run folder
            -> source path (e.g. ``{"tokenizer/tokenizer.json": ckpt.path / "tokenizer.json"}``).
    """

    config: dict[str, Any]
    weights: dict[str, Tensor]
    files: dict[str, Path] = field(default_factory=dict)


class Importer(Protocol):
    """Converts one Hugging Face architecture into attnkit's own modules."""

    #: the ``config.json`` ``architectures`` / task names it reads, for the error listing what is supported
    description: str

    def convert(self, ckpt: Checkpoint) -> Converted:
        """The run config, attnkit weights and tokenizer files of `ckpt`.

        Raises:
            ConversionError: a config field or weight the converter cannot represent (one line naming it).
        """
        ...


class Exporter(Protocol):
    """Writes an attnkit run as a Hugging Face checkpoint folder ``from_pretrained`` loads."""

    description: str

    def export(self, run: Any, out: Path) -> None:
        """Write ``config.json``, ``model.safetensors`` (and tokenizer files) of the loaded run
        (:class:`attnkit.training.Run`) into the existing empty folder `out`.

        Raises:
            ConversionError: a config the Hugging Face architecture cannot represent.
        """
        ...


#: Hugging Face ``model_type`` -> importer
IMPORTERS: Registry[Importer] = Registry("Hugging Face architecture")
#: attnkit ``model.arch`` -> exporter
EXPORTERS: Registry[Exporter] = Registry("exportable model family")
