"""Layer 1, the functional core: pure tensor functions for the three stages of attention.

score (:mod:`.score`) -> alignment (:mod:`.normalize`) -> fusion (:mod:`.fuse`), composed by
:func:`attend`. Masks (:mod:`.masks`) are boolean, ``True`` = may attend; the windows and the
Gaussian of Luong's local attention are in :mod:`.local`; attention rollout over layers in
:mod:`.rollout`; dense and efficient attention kernels selectable by name (sliding window, linear,
flex) in :mod:`.efficient`; per-edge softmax and aggregation over graph neighbourhoods in :mod:`.graph`;
the affine warp of a spatial transformer in :mod:`.warp`.
"""

from . import fuse, graph, local, masks, normalize, score
from .attention import NORMALISERS, SCORES, Attended, attend
from .efficient import ATTENTION_KERNELS
from .fuse import weighted_sum
from .graph import add_self_loops, aggregate, check_edge_index, edge_softmax, remove_self_loops
from .hard import gumbel_softmax_st, hard_argmax, sample_hard
from .local import gaussian_weights, local_window_mask
from .masks import as_scores_mask, causal_mask, check_mask, expand_padding_mask, padding_mask
from .normalize import masked_softmax
from .rollout import HEAD_FUSIONS, attention_rollout
from .sparse import masked_entmax15, masked_sparsemax
from .warp import affine_warp

__all__ = [
    "Attended",
    "attend",
    "SCORES",
    "NORMALISERS",
    "ATTENTION_KERNELS",
    "score",
    "normalize",
    "fuse",
    "masks",
    "local",
    "masked_softmax",
    "weighted_sum",
    "padding_mask",
    "causal_mask",
    "expand_padding_mask",
    "check_mask",
    "as_scores_mask",
    "masked_sparsemax",
    "masked_entmax15",
    "hard_argmax",
    "gumbel_softmax_st",
    "sample_hard",
    "local_window_mask",
    "gaussian_weights",
    "attention_rollout",
    "HEAD_FUSIONS",
    "affine_warp",
    "graph",
    "edge_softmax",
    "aggregate",
    "add_self_loops",
    "remove_self_loops",
    "check_edge_index",
]
