"""Luong decoders: global attention on the current state h_t with the dot, general or concat
score, and local attention (local-m, local-p), with input feeding [Luong15] Sec. 3. Each score
is registered as its own decoder (``luong-dot``, ...) with the options it takes.

References:
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn import LuongAttention
from ...nn.local import LocalMonotonicAttention, LocalPredictiveAttention
from .encoder import Bridge, Cell
from .registry import DECODERS, DecoderKind
from .state import DecoderOutput, DecoderState, DecoderStep, Memory, float32_steps

__all__ = ["LuongDecoder", "LocalLuongDecoder"]

_Attention = LuongAttention | LocalMonotonicAttention | LocalPredictiveAttention  # global or local


class LuongDecoder(nn.Module):
    """h_t = RNN([E y_{t-1}; h~_{t-1}], h_{t-1}); a_t, c_t on h_t; h~_t = tanh(W_c [c_t; h_t])
    [Luong15] Sec. 3.1 and 3.3 (input feeding). Without input feeding the RNN runs over all steps
    at once and attention is computed for every step in one call. Registered once per score
    (:func:`luong_dot`, ...), each naming the options that score takes."""

    uses_attention = True
    init_recipe = "luong15"

    def __init__(
        self,
        emb_dim: int,
        hidden_dim: int,
        enc_dim: int,
        cell: str,
        *,
        score_name: str,
        attn_dim: int | None = None,
        input_feeding: bool = True,
        normaliser: str = "softmax",
    ) -> None:
        super().__init__()
        attn_dim = attn_dim or hidden_dim
        self.input_feeding = input_feeding
        self.bridge = Bridge(enc_dim, hidden_dim, cell == "lstm")
        self.attention: _Attention = LuongAttention(
            hidden_dim, enc_dim, score_name=score_name, attn_dim=attn_dim, normaliser=normaliser
        )
        feed_dim = hidden_dim if input_feeding else 0
        self.cell = Cell(cell, emb_dim + feed_dim, hidden_dim)
        self.output_dim = hidden_dim

    def project_keys(self, annotations: Tensor) -> Tensor:
        return self.attention.project_keys(annotations)

    def init_state(self, memory: Memory) -> DecoderState:
        return self.bridge(memory.final, with_feed=self.input_feeding)

    def _attend(self, queries: Tensor, memory: Memory, position: int) -> Any:
        """Attention for queries (B, Tq, Dd) at target positions position, position + 1, ..."""
        return self.attention(queries, memory.annotations, memory.mask, memory.projected_keys)

    def step(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderStep:
        x = emb
        if self.input_feeding:
            assert state.feed is not None  # init_state sets it with input feeding
            x = torch.cat([emb, state.feed], dim=-1)
        hidden, cell = self.cell(x, state.hidden, state.cell)
        att = self._attend(hidden.unsqueeze(1), memory, state.position)
        attentional = att.attentional[:, 0]  # h~_t, (B, Dd)
        feed = attentional if self.input_feeding else None
        return DecoderStep(attentional, DecoderState(hidden, cell, feed, state.position + 1), att.weights[:, 0])

    def forward(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderOutput:
        if self.input_feeding:
            outputs, weights = [], []
            with float32_steps(emb, state, memory) as (emb, state, memory):
                for t in range(emb.shape[1]):
                    out, state, w = self.step(emb[:, t], state, memory)
                    assert w is not None  # an attention decoder always returns its weights
                    outputs.append(out)
                    weights.append(w)
            return DecoderOutput(torch.stack(outputs, 1), torch.stack(weights, 1))
        hiddens = []
        with float32_steps(emb, state, None) as (emb_s, state, _):
            for t in range(emb.shape[1]):
                hidden, cell = self.cell(emb_s[:, t], state.hidden, state.cell)
                state = DecoderState(hidden, cell, None, state.position + 1)
                hiddens.append(hidden)
        att = self._attend(torch.stack(hiddens, 1), memory, state.position - len(hiddens))  # all Tq at once
        return DecoderOutput(att.attentional, att.weights)


class LocalLuongDecoder(LuongDecoder):
    """The Luong decoder with local attention: local-m (window centred at the target position
    t) or local-p (predicted centre p_t) [Luong15] Sec. 3.2."""

    def __init__(
        self,
        emb_dim: int,
        hidden_dim: int,
        enc_dim: int,
        cell: str,
        *,
        kind: type[LocalMonotonicAttention] | type[LocalPredictiveAttention],
        local_window: int,
        attn_dim: int | None = None,
        input_feeding: bool = True,
    ) -> None:
        super().__init__(
            emb_dim, hidden_dim, enc_dim, cell, score_name="general", attn_dim=attn_dim, input_feeding=input_feeding
        )
        self.attention = kind(
            hidden_dim, enc_dim, window=local_window, score_name="general", attn_dim=attn_dim or hidden_dim
        )

    def _attend(self, queries: Tensor, memory: Memory, position: int) -> Any:
        return self.attention(queries, memory.annotations, memory.mask, memory.projected_keys, positions=position)


def luong_dot(
    emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, input_feeding: bool = True, normaliser: str = "softmax"
) -> LuongDecoder:
    """Luong global attention with the dot score, which has no hidden layer (no attn_dim)."""
    return LuongDecoder(
        emb_dim, hidden_dim, enc_dim, cell, score_name="dot", input_feeding=input_feeding, normaliser=normaliser
    )


def luong_general(
    emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, input_feeding: bool = True, normaliser: str = "softmax"
) -> LuongDecoder:
    """Luong global attention with the general score h_t^T W_a h_s (W_a is Dd x Dk: no attn_dim)."""
    return LuongDecoder(
        emb_dim, hidden_dim, enc_dim, cell, score_name="general", input_feeding=input_feeding, normaliser=normaliser
    )


def luong_concat(
    emb_dim: int,
    hidden_dim: int,
    enc_dim: int,
    cell: str,
    *,
    attn_dim: int | None = None,
    input_feeding: bool = True,
    normaliser: str = "softmax",
) -> LuongDecoder:
    """Luong global attention with the concat score, whose hidden layer has width attn_dim."""
    return LuongDecoder(
        emb_dim,
        hidden_dim,
        enc_dim,
        cell,
        score_name="concat",
        attn_dim=attn_dim,
        input_feeding=input_feeding,
        normaliser=normaliser,
    )


def luong_local_m(
    emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, local_window: int = 10, input_feeding: bool = True
) -> LocalLuongDecoder:
    """Local-m with the general score: softmax over its window only (no normaliser, no attn_dim)."""
    return LocalLuongDecoder(
        emb_dim,
        hidden_dim,
        enc_dim,
        cell,
        kind=LocalMonotonicAttention,
        local_window=local_window,
        input_feeding=input_feeding,
    )


def luong_local_p(
    emb_dim: int,
    hidden_dim: int,
    enc_dim: int,
    cell: str,
    *,
    local_window: int = 10,
    attn_dim: int | None = None,
    input_feeding: bool = True,
) -> LocalLuongDecoder:
    """Local-p with the general score; attn_dim is the width Dp of the position predictor W_p."""
    return LocalLuongDecoder(
        emb_dim,
        hidden_dim,
        enc_dim,
        cell,
        kind=LocalPredictiveAttention,
        local_window=local_window,
        attn_dim=attn_dim,
        input_feeding=input_feeding,
    )


for _score, _build, _options in (
    ("dot", luong_dot, ("input_feeding", "normaliser")),
    ("general", luong_general, ("input_feeding", "normaliser")),
    ("concat", luong_concat, ("attn_dim", "input_feeding", "normaliser")),
):
    DECODERS.register(
        f"luong-{_score}",
        DecoderKind(_build, _options),
        f"Luong global attention, {_score} score, on h_t",
        "[Luong15] Eq. 8",
    )
DECODERS.register(
    "luong-local-m",
    DecoderKind(luong_local_m, ("input_feeding", "local_window")),
    "Luong local attention, window centred at p_t = t (general score)",
    "[Luong15] Sec. 3.2",
)
DECODERS.register(
    "luong-local-p",
    DecoderKind(luong_local_p, ("attn_dim", "input_feeding", "local_window")),
    "Luong local attention, predicted centre p_t and Gaussian (general score)",
    "[Luong15] Eqs. 9-10",
)
