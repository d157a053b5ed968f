"""Pretrained checkpoints: Hugging Face folders into attnkit runs and back (see :mod:`.base`)."""

from __future__ import annotations

from . import whisper  # noqa: F401  (registers its importer)
from .base import EXPORTERS, IMPORTERS, Checkpoint, ConversionError, Converted, Exporter, Importer

__all__ = ["Checkpoint", "Converted", "Importer", "Exporter", "IMPORTERS", "EXPORTERS", "ConversionError"]
