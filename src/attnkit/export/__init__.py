"""Layer 6 (docs/architecture.md): runs exported to inference engines, and run through them.

:mod:`attnkit.export.ctranslate2` writes a Transformer run as a CTranslate2 model folder (our own
converter on CTranslate2's spec API) and translates with it through the run's task, so that
``attnkit translate --engine ctranslate2`` takes the same inputs and draws the same pictures.
:mod:`attnkit.export.onnx` writes an image classifier, a Transformer's encoder or a Transformer
tagger as an ONNX graph (``attnkit export RUN --format onnx``) with dynamic batch and length axes
and its attention weights as named outputs, checked with onnxruntime before it is written.
"""

from __future__ import annotations

__all__: list[str] = []
