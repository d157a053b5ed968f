"""Pretrained checkpoints: Hugging Face folders into attnkit runs and back (see :mod:`.base`).

Importing this package registers every converter: each module below registers its importers in
:data:`IMPORTERS` and its exporters in :data:`EXPORTERS` when imported (one line per module).
"""

from __future__ import annotations

from .base import EXPORTERS, IMPORTERS, Checkpoint, ConversionError, Converted, Exporter, Importer

# The converters register themselves on import (one line each).
# isort: off
from . import bert  # noqa: F401  (bert, roberta)
from . import gpt2  # noqa: F401
from . import vit  # noqa: F401  (ViT: IMPORTERS['vit'], EXPORTERS['vit'])
from . import marian  # noqa: F401
from . import whisper  # noqa: F401
# isort: on

__all__ = ["Checkpoint", "Converted", "Importer", "Exporter", "IMPORTERS", "EXPORTERS", "ConversionError"]
