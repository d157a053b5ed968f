"""Layer 5: decoding (greedy; beam search follows) that captures attention."""

from .greedy import Hypothesis, greedy_decode
from .translator import LayerMaps, Translation, layer_maps, translate

__all__ = ["Hypothesis", "greedy_decode", "Translation", "translate", "LayerMaps", "layer_maps"]
