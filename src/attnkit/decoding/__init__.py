"""Layer 4 (docs/architecture.md): decoding on token ids that keeps attention: batched greedy and
beam search behind one entry point (:func:`decode`) and one set of options (:class:`DecodeOptions`),
forced decoding and per-layer maps. Nothing here knows a task: tasks tokenise before and
detokenise after."""

from .beam import beam_search, coverage_penalty, length_penalty
from .beam_state import BeamAncestry, BeamStates, select_rows
from .decode import decode
from .forced import ForcedAttention, explained_weights, forced_weights
from .greedy import Hypothesis, force_eos, greedy_decode
from .options import PRECISIONS, STOP_RULES, DecodeOptionError, DecodeOptions, option_fields
from .translator import LayerMaps, Translation, layer_maps

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
    "Translation",
    "LayerMaps",
    "layer_maps",
    "STOP_RULES",
    "PRECISIONS",
]
