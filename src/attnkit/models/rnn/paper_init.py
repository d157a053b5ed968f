"""Parameter initialisations from the papers, for :class:`~attnkit.models.Seq2Seq` ``init="paper"``.

By default (``init="torch"``) every module keeps PyTorch's initialisation: ``nn.Linear`` and the
RNNs draw weights and biases from U(-k^-1/2, k^-1/2) (k the input width of a linear layer, the
hidden width of an RNN), ``nn.Embedding`` from N(0, 1), and attnkit's own energy vectors v_a
from U(-Da^-1/2, Da^-1/2). The papers did otherwise:

* :func:`bahdanau15_`, [Bahdanau15] App. B.1 (RNNsearch, and the RNNencdec baseline trained the
  same way): recurrent matrices random orthogonal; W_a and U_a of the score from N(0, 0.001^2);
  v_a and every bias zero; every other weight matrix (embeddings, input matrices, output
  layers) from N(0, 0.01^2).
* :func:`luong15_`, [Luong15] Sec. 4.1: every parameter uniform in [-0.1, 0.1].

Both act in place on a whole model, after PyTorch's initialisation, drawing from the global
generator (seeded by the trainer), and keep the padding rows of embeddings at zero.

References:
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
    [Tu16] Z. Tu, Z. Lu, Y. Liu, X. Liu, H. Li. Modeling Coverage for Neural Machine Translation.
    ACL 2016. arXiv:1601.04811.
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ...nn import AdditiveAttention, CoverageAttention, LocationAwareAttention

__all__ = ["bahdanau15_", "luong15_", "PAPER_INITS"]


@torch.no_grad()
def bahdanau15_(model: nn.Module) -> None:
    """Initialise `model` in place as [Bahdanau15] App. B.1 did.

    * ``weight_hh*`` of every GRU/LSTM (the recurrent matrices U, U_z, U_r of each direction):
      each gate's (H, H) block a random orthogonal matrix;
    * ``query_proj.weight`` and ``key_proj.weight`` of every :class:`AdditiveAttention` (the
      paper's W_a and U_a): N(0, 0.001^2);
    * its ``energy`` (v_a) and every bias: 0;
    * every other parameter: N(0, 0.01^2); then the padding row of each embedding is set to 0.

    Differences from the paper:
        The GRU is PyTorch's, with two bias vectors (both set to 0) and the reset gate applied
        after the recurrent product. An LSTM (not in the paper) gets the same rules, one
        orthogonal block per gate. The coverage weights V_a of :class:`CoverageAttention`
        ([Tu16], not in the paper) are set to 0, as attnkit does by default. Location-aware
        attention ([Chorowski15], built on this decoder) gets U like W_a and U_a, N(0, 0.001^2),
        and its filters F N(0, 0.01^2) like the other weights. The padding
        embedding stays 0 so that padding keeps contributing nothing.
    """
    small: set[int] = set()
    zero: set[int] = set()
    for module in model.modules():
        if isinstance(module, AdditiveAttention):
            small.update((id(module.query_proj.weight), id(module.key_proj.weight)))  # W_a, U_a
            zero.add(id(module.energy))  # v_a
        if isinstance(module, CoverageAttention):
            zero.add(id(module.coverage_proj))
        if isinstance(module, LocationAwareAttention):
            small.add(id(module.loc_proj.weight))  # U of [Chorowski15], a matrix of the score like W_a
    for name, param in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if id(param) in small:
            nn.init.normal_(param, 0.0, 0.001)
        elif id(param) in zero or leaf.startswith("bias"):
            nn.init.zeros_(param)
        elif leaf.startswith("weight_hh"):  # (gates * H, H): U_z, U_r, U stacked by rows
            for block in param.split(param.shape[1], dim=0):
                block.copy_(nn.init.orthogonal_(torch.empty_like(block)))
        else:
            nn.init.normal_(param, 0.0, 0.01)
    _zero_padding_rows(model)


@torch.no_grad()
def luong15_(model: nn.Module) -> None:
    """Initialise every parameter of `model` in place from U(-0.1, 0.1) [Luong15] Sec. 4.1.

    Differences from the paper: the padding row of each embedding is then set to 0.
    """
    for param in model.parameters():
        nn.init.uniform_(param, -0.1, 0.1)
    _zero_padding_rows(model)


def _zero_padding_rows(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            module.weight[module.padding_idx].zero_()


#: Recipe name (a decoder's ``init_recipe``) -> in-place initialiser of a whole model.
PAPER_INITS: dict[str, Callable[[nn.Module], None]] = {"bahdanau15": bahdanau15_, "luong15": luong15_}
