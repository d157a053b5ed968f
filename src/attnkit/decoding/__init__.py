"""Layer 4 (docs/architecture.md): decoding on token ids that keeps attention: batched greedy and
beam search behind one entry point (:func:`decode`) and one set of options (:class:`DecodeOptions`),
forced decoding and per-layer maps. Nothing here knows a task: tasks tokenise before and
detokenise after.

The options (plain data) load at once; the decoders, which need torch, when first used
(PEP 562), so that ``attnkit --help`` builds its decoding flags without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .options import PRECISIONS, STOP_RULES, DecodeOptionError, DecodeOptions, option_fields

if TYPE_CHECKING:
    from .beam import beam_search, coverage_penalty, length_penalty
    from .beam_state import BeamAncestry, BeamStates, select_rows
    from .decode import decode
    from .forced import ForcedAttention, explained_weights, forced_weights
    from .greedy import Hypothesis, force_eos, greedy_decode
    from .speed import CompiledStep, prepare, quantized
    from .translator import LayerMaps, Translation, layer_maps

_LAZY = {
    "beam_search": ".beam",
    "coverage_penalty": ".beam",
    "length_penalty": ".beam",
    "BeamAncestry": ".beam_state",
    "BeamStates": ".beam_state",
    "select_rows": ".beam_state",
    "decode": ".decode",
    "ForcedAttention": ".forced",
    "explained_weights": ".forced",
    "forced_weights": ".forced",
    "Hypothesis": ".greedy",
    "force_eos": ".greedy",
    "greedy_decode": ".greedy",
    "CompiledStep": ".speed",
    "prepare": ".speed",
    "quantized": ".speed",
    "LayerMaps": ".translator",
    "Translation": ".translator",
    "layer_maps": ".translator",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


__all__ = [
    "decode",
    "DecodeOptions",
    "DecodeOptionError",
    "option_fields",
    "Hypothesis",
    "greedy_decode",
    "force_eos",
    "beam_search",
    "length_penalty",
    "coverage_penalty",
    "BeamStates",
    "BeamAncestry",
    "select_rows",
    "ForcedAttention",
    "forced_weights",
    "explained_weights",
    "prepare",
    "quantized",
    "CompiledStep",
    "Translation",
    "LayerMaps",
    "layer_maps",
    "STOP_RULES",
    "PRECISIONS",
]
