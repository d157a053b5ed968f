"""Layer 4 (docs/architecture.md): decoding that captures attention: batched greedy and beam search, translation."""

from .beam import STOP_RULES, beam_search, coverage_penalty, length_penalty
from .beam_state import BeamAncestry, BeamStates, select_rows
from .greedy import Hypothesis, force_eos, greedy_decode
from .translator import PRECISIONS, LayerMaps, ScoredTranslation, Translation, layer_maps, translate, translate_nbest

__all__ = [
    "Hypothesis", "greedy_decode", "force_eos", "beam_search", "length_penalty", "coverage_penalty",
    "BeamStates", "BeamAncestry", "select_rows",
    "Translation", "translate", "ScoredTranslation", "translate_nbest", "LayerMaps", "layer_maps", "STOP_RULES", "PRECISIONS",
]
