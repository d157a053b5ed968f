"""The Bahdanau decoder with location-aware attention [Chorowski15] Sec. 2.2, registered as
``location-aware``.

References:
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ...nn import LocationAwareAttention
from .decoders import BahdanauDecoder
from .registry import DECODERS, DecoderKind
from .state import DecoderState, Memory

__all__ = ["LocationAwareDecoder"]


class LocationAwareDecoder(BahdanauDecoder):
    """The Bahdanau decoder with location-aware attention [Chorowski15] Sec. 2.2: the score also
    sees F * alpha_{t-1}; alpha_{t-1} travels in the decoder state (``prev_weights``), uniform
    over the real source positions before the first step.

    Options: ``attn_dim``, ``normaliser``, ``loc_filters`` (Nf, default 10) and ``loc_kernel``
    (r, odd, default 31 source positions).
    """

    def __init__(
        self,
        emb_dim: int,
        hidden_dim: int,
        enc_dim: int,
        cell: str,
        *,
        attn_dim: int | None = None,
        normaliser: str = "softmax",
        loc_filters: int = 10,
        loc_kernel: int = 31,
    ) -> None:
        super().__init__(emb_dim, hidden_dim, enc_dim, cell, attn_dim=attn_dim, normaliser=normaliser)
        self.attention = LocationAwareAttention(
            hidden_dim,
            enc_dim,
            attn_dim or hidden_dim,
            n_filters=loc_filters,
            kernel_size=loc_kernel,
            normaliser=normaliser,
        )

    def init_state(self, memory: Memory) -> DecoderState:
        state = super().init_state(memory)
        return state._replace(prev_weights=LocationAwareAttention.initial_weights(memory.mask, state.hidden.dtype))

    def _recur(self, emb: Tensor, state: DecoderState, memory: Memory) -> tuple[DecoderState, Any]:
        assert state.prev_weights is not None  # set by init_state
        attended = self.attention(
            state.hidden.unsqueeze(1),
            memory.annotations,
            memory.mask,
            memory.projected_keys,
            prev_weights=state.prev_weights.unsqueeze(1),
        )
        hidden, cell = self.cell(torch.cat([emb, attended.context[:, 0]], dim=-1), state.hidden, state.cell)
        return DecoderState(hidden, cell, None, state.position + 1, None, attended.weights[:, 0]), attended


DECODERS.register(
    "location-aware",
    DecoderKind(LocationAwareDecoder, ("attn_dim", "normaliser", "loc_filters", "loc_kernel")),
    "additive attention that also sees convolution features of the previous weights",
    "[Chorowski15] Eqs. 5-9",
)
