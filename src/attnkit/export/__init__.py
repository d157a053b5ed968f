"""Layer 6 (docs/architecture.md): runs exported to inference engines, and run through them.

:mod:`attnkit.export.ctranslate2` writes a Transformer run as a CTranslate2 model folder (our own
converter on CTranslate2's spec API) and translates with it through the run's task, so that
``attnkit translate --engine ctranslate2`` takes the same inputs and draws the same pictures.
"""

from __future__ import annotations

__all__: list[str] = []
