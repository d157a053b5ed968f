"""Layer 1, the functional core: pure tensor functions for the three stages of attention.

score (:mod:`.score`) -> alignment (:mod:`.normalize`) -> fusion (:mod:`.fuse`), composed by
:func:`attend`. Masks (:mod:`.masks`) are boolean, ``True`` = may attend.
"""

from . import fuse, masks, normalize, score
from .attention import NORMALISERS, SCORES, Attended, attend
from .fuse import weighted_sum
from .masks import causal_mask, check_mask, expand_padding_mask, padding_mask
from .normalize import masked_softmax

__all__ = [
    "Attended", "attend", "SCORES", "NORMALISERS", "score", "normalize", "fuse", "masks",
    "masked_softmax", "weighted_sum", "padding_mask", "causal_mask", "expand_padding_mask",
    "check_mask",
]
