"""Stacked (multi-layer) attention decoder: every decoder layer attends to the source.

Layer l computes h^l_t = RNN_l(x^l_t, h^l_{t-1}), attends with h^l_t, and forms its attentional
state h~^l_t = tanh(W_c^l [c^l_t; h^l_t]) [Luong15] Eq. 5, which is the input x^{l+1}_t of the
layer above; the first layer reads [E y_{t-1}; h~^L_{t-1}] (input feeding from the top layer,
[Luong15] Sec. 3.3), and the top layer's attentional state is the output. Each layer refines where
to look given what the layer below found: attention stacked over depth, as in multi-level
attention models [Chaudhari21] Sec. 4.3.

References:
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
    [Chaudhari21] S. Chaudhari, V. Mithal, G. Polatkan, R. Ramanath. An Attentive Survey of
    Attention Models. ACM TIST 2021. arXiv:1904.02874.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from ...nn import LuongAttention
from .encoder import Cell
from .registry import DECODERS, DecoderKind
from .state import DecoderOutput, DecoderState, DecoderStep, Memory, float32_steps

__all__ = ["StackedAttentionDecoder"]


class StackedAttentionDecoder(nn.Module):
    """An L-layer Luong decoder with one global attention per layer (see the module docstring).

    Args:
        emb_dim: target embedding width E.
        hidden_dim: width Dd of every layer.
        enc_dim: annotation width Dk.
        cell: "gru" or "lstm".
        layers: number of stacked layers L >= 1.
        score_name: Luong score of every layer: "dot", "general" or "concat".
        attn_dim: hidden width of the concat score (unused by the others); defaults to
            `hidden_dim`.

    It always feeds h~ back and normalises with softmax. Registered as ``luong-stacked`` with
    the general score; its one option is ``dec_layers`` (our L).

    State: ``hidden`` (and ``cell``) are (B, L, Dd); ``feed`` is the top layer's h~_{t-1}.
    Weights returned per step are the top layer's, (B, Tk).

    Raises:
        ValueError: for layers < 1 or an unknown score.
    """

    uses_attention = True
    init_recipe = "luong15"

    def __init__(
        self,
        emb_dim: int,
        hidden_dim: int,
        enc_dim: int,
        cell: str,
        *,
        layers: int,
        score_name: str = "general",
        attn_dim: int | None = None,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a stacked attention decoder needs layers >= 1, got {layers}")
        self.layers, self.hidden_dim, self.lstm = layers, hidden_dim, cell == "lstm"
        self.bridge = nn.Linear(enc_dim, layers * hidden_dim)  # s^l_0 = tanh(W_s^l h_final)
        self.cells = nn.ModuleList(
            Cell(cell, (emb_dim + hidden_dim) if i == 0 else hidden_dim, hidden_dim) for i in range(layers)
        )
        self.attentions = nn.ModuleList(
            LuongAttention(hidden_dim, enc_dim, score_name=score_name, attn_dim=attn_dim or hidden_dim)
            for _ in range(layers)
        )
        self.output_dim = hidden_dim

    def project_keys(self, annotations: Tensor) -> Tensor:
        """Every layer's step-independent score part, (B, L, Tk, D*)."""
        return torch.stack([cast(LuongAttention, a).project_keys(annotations) for a in self.attentions], dim=1)

    def init_state(self, memory: Memory) -> DecoderState:
        hidden = torch.tanh(self.bridge(memory.final)).view(-1, self.layers, self.hidden_dim)  # (B, L, Dd)
        return DecoderState(hidden, torch.zeros_like(hidden) if self.lstm else None, torch.zeros_like(hidden[:, 0]), 0)

    def step(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderStep:
        assert state.feed is not None and memory.projected_keys is not None  # from init_state, project_keys
        x = torch.cat([emb, state.feed], dim=-1)  # (B, E + Dd)
        hiddens: list[Tensor] = []
        cells: list[Tensor] = []
        for i, (cell, attention) in enumerate(zip(self.cells, self.attentions)):
            h, c = cell(x, state.hidden[:, i], None if state.cell is None else state.cell[:, i])
            att = attention(h.unsqueeze(1), memory.annotations, memory.mask, memory.projected_keys[:, i])
            x = att.attentional[:, 0]  # h~^l_t, the input of layer l + 1
            hiddens.append(h)
            if c is not None:  # LSTM cells
                cells.append(c)
        new = DecoderState(torch.stack(hiddens, 1), torch.stack(cells, 1) if cells else None, x, state.position + 1)
        return DecoderStep(x, new, att.weights[:, 0])

    def forward(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderOutput:
        outputs, weights = [], []
        with float32_steps(emb, state, memory) as (emb, state, memory):
            for t in range(emb.shape[1]):
                out, state, w = self.step(emb[:, t], state, memory)
                assert w is not None  # an attention decoder always returns its weights
                outputs.append(out)
                weights.append(w)
        return DecoderOutput(torch.stack(outputs, 1), torch.stack(weights, 1))


def luong_stacked(
    emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, dec_layers: int = 1
) -> StackedAttentionDecoder:
    """The registered stacked decoder: general score, `dec_layers` layers (no other option)."""
    return StackedAttentionDecoder(emb_dim, hidden_dim, enc_dim, cell, layers=dec_layers)


DECODERS.register(
    "luong-stacked",
    DecoderKind(luong_stacked, ("dec_layers",)),
    "stacked Luong decoder: every layer attends (general score; model.dec_layers layers)",
    "[Luong15] Sec. 3; [Chaudhari21] Sec. 4.3",
)
