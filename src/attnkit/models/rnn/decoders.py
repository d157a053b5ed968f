"""RNN decoders without attention [Cho14] and with additive attention on the previous state
[Bahdanau15], [Tu16] (coverage). Each registers itself in :data:`~.registry.DECODERS` with the
options it takes.

Differences from the papers: the maxout output layer is a tanh layer; PyTorch's GRU applies the
reset gate after the recurrent product (see :mod:`.encoder`).

References:
    [Cho14] K. Cho, B. van Merrienboer, C. Gulcehre, et al. Learning Phrase Representations using
    RNN Encoder-Decoder for Statistical Machine Translation. EMNLP 2014. arXiv:1406.1078.
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
    [Tu16] Z. Tu, Z. Lu, Y. Liu, X. Liu, H. Li. Modeling Coverage for Neural Machine Translation.
    ACL 2016. arXiv:1601.04811.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn import AdditiveAttention, CoverageAttention
from .encoder import Bridge, Cell, layer_first, rnn_classes
from .registry import DECODERS, DecoderKind
from .state import DecoderOutput, DecoderState, DecoderStep, Memory, float32_steps

__all__ = ["FixedContextDecoder", "BahdanauDecoder", "CoverageBahdanauDecoder"]


class FixedContextDecoder(nn.Module):
    """Decoder without attention: s_t = RNN([E y_{t-1}; c], s_{t-1}), c = final encoder state,
    output tanh(W_o [s_t; E y_{t-1}; c]) [Cho14] Sec. 2.2. It takes no decoder options.

    Differences from the paper: PyTorch's GRU has r ⊙ (U s + b) where [Cho14] Eq. 8 has
    U (r ⊙ s); the output layer is tanh, not maxout.
    """

    uses_attention = False
    init_recipe = "bahdanau15"  # the RNNencdec baseline of [Bahdanau15], trained as RNNsearch

    def __init__(self, emb_dim: int, hidden_dim: int, enc_dim: int, cell: str) -> None:
        super().__init__()
        self.bridge = Bridge(enc_dim, hidden_dim, cell == "lstm")
        self.rnn = rnn_classes(cell)[0](emb_dim + enc_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim + emb_dim + enc_dim, hidden_dim)
        self.output_dim = hidden_dim

    def project_keys(self, annotations: Tensor) -> Tensor | None:
        return None

    def init_state(self, memory: Memory) -> DecoderState:
        return self.bridge(memory.final, with_feed=False)

    def forward(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderOutput:
        """Teacher-forced run over all steps at once: emb (B, Tq, E) -> (B, Tq, Dd), no weights."""
        context = memory.final.unsqueeze(1).expand(-1, emb.shape[1], -1)  # (B, Tq, Dk)
        states, _ = self.rnn(torch.cat([emb, context], dim=-1), layer_first(state))  # (B, Tq, Dd)
        return DecoderOutput(torch.tanh(self.out(torch.cat([states, emb, context], dim=-1))), None)

    def step(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderStep:
        """One step: emb (B, E) -> output (B, Dd), new state, no weights."""
        x = torch.cat([emb, memory.final], dim=-1).unsqueeze(1)  # (B, 1, E + Dk)
        out, new = self.rnn(x, layer_first(state))
        hidden, cell = (new[0][0], new[1][0]) if isinstance(new, tuple) else (new[0], None)
        output = torch.tanh(self.out(torch.cat([out[:, 0], emb, memory.final], dim=-1)))
        return DecoderStep(output, DecoderState(hidden, cell, None, state.position + 1), None)


class BahdanauDecoder(nn.Module):
    """c_t = attend(s_{t-1}, h); s_t = RNN([E y_{t-1}; c_t], s_{t-1});
    output tanh(W_o [s_t; E y_{t-1}; c_t]) [Bahdanau15] Eqs. 4-6, App. A.2.2.

    Options: ``attn_dim`` (Da, the paper's n'; default the decoder width) and ``normaliser``
    (``"reinforce"`` samples hard positions while training; their log-probabilities and
    entropies come back in :class:`~.state.DecoderOutput`).

    Differences from the paper: the maxout output layer is a tanh layer. PyTorch's GRU cell
    applies the reset gate after the recurrent product, r ⊙ (U s_{t-1} + b), where App. A.2.2
    has U (r_i ∘ s_{i-1}).
    """

    uses_attention = True
    init_recipe = "bahdanau15"

    def __init__(
        self,
        emb_dim: int,
        hidden_dim: int,
        enc_dim: int,
        cell: str,
        *,
        attn_dim: int | None = None,
        normaliser: str = "softmax",
    ) -> None:
        super().__init__()
        attn_dim = attn_dim or hidden_dim
        self.bridge = Bridge(enc_dim, hidden_dim, cell == "lstm")
        self.attention: AdditiveAttention = AdditiveAttention(hidden_dim, enc_dim, attn_dim, normaliser=normaliser)
        self.cell = Cell(cell, emb_dim + enc_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim + emb_dim + enc_dim, hidden_dim)
        self.output_dim = hidden_dim

    def project_keys(self, annotations: Tensor) -> Tensor:
        return self.attention.project_keys(annotations)

    def init_state(self, memory: Memory) -> DecoderState:
        return self.bridge(memory.final, with_feed=False)

    def _recur(self, emb: Tensor, state: DecoderState, memory: Memory) -> tuple[DecoderState, Any]:
        attended = self.attention(
            state.hidden.unsqueeze(1), memory.annotations, memory.mask, memory.projected_keys
        )  # scores with s_{t-1}
        hidden, cell = self.cell(torch.cat([emb, attended.context[:, 0]], dim=-1), state.hidden, state.cell)
        return DecoderState(hidden, cell, None, state.position + 1), attended

    def step(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderStep:
        state, att = self._recur(emb, state, memory)
        output = torch.tanh(self.out(torch.cat([state.hidden, emb, att.context[:, 0]], dim=-1)))
        return DecoderStep(output, state, att.weights[:, 0])

    def forward(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderOutput:
        """Teacher-forced run: the recurrence step by step, the output layer once for all steps."""
        hiddens, steps = [], []
        with float32_steps(emb, state, memory) as (emb_s, state, memory):
            for t in range(emb.shape[1]):
                state, att = self._recur(emb_s[:, t], state, memory)
                hiddens.append(state.hidden)
                steps.append(att)
        states = torch.stack(hiddens, 1)  # (B, Tq, Dd)
        contexts = torch.cat([a.context for a in steps], 1)  # (B, Tq, Dk)
        output = torch.tanh(self.out(torch.cat([states, emb, contexts], dim=-1)))
        sampled = getattr(steps[0], "log_prob", None) is not None  # hard attention trained by REINFORCE
        return DecoderOutput(
            output,
            torch.cat([a.weights for a in steps], 1),  # (B, Tq, Tk)
            torch.cat([a.log_prob for a in steps], 1) if sampled else None,
            torch.cat([a.entropy for a in steps], 1) if sampled else None,
        )


class CoverageBahdanauDecoder(BahdanauDecoder):
    """The Bahdanau decoder whose attention also sees the coverage vector, the running sum of past
    alignment weights [Tu16]; the coverage travels in the decoder state."""

    def __init__(
        self,
        emb_dim: int,
        hidden_dim: int,
        enc_dim: int,
        cell: str,
        *,
        attn_dim: int | None = None,
        normaliser: str = "softmax",
    ) -> None:
        super().__init__(emb_dim, hidden_dim, enc_dim, cell, attn_dim=attn_dim, normaliser=normaliser)
        self.attention = CoverageAttention(hidden_dim, enc_dim, attn_dim or hidden_dim, normaliser=normaliser)

    def init_state(self, memory: Memory) -> DecoderState:
        state = super().init_state(memory)
        return state._replace(
            coverage=torch.zeros(memory.mask.shape, dtype=state.hidden.dtype, device=state.hidden.device)
        )

    def _recur(self, emb: Tensor, state: DecoderState, memory: Memory) -> tuple[DecoderState, Any]:
        assert state.coverage is not None  # set by init_state
        attended = self.attention(
            state.hidden.unsqueeze(1),
            memory.annotations,
            memory.mask,
            memory.projected_keys,
            coverage=state.coverage.unsqueeze(1),
        )
        hidden, cell = self.cell(torch.cat([emb, attended.context[:, 0]], dim=-1), state.hidden, state.cell)
        coverage = state.coverage + attended.weights[:, 0]  # C_{i,j} = C_{i-1,j} + alpha_{i,j}
        return DecoderState(hidden, cell, None, state.position + 1, coverage), attended


DECODERS.register("none", DecoderKind(FixedContextDecoder), "no attention: fixed context vector", "[Cho14]")
DECODERS.register(
    "bahdanau",
    DecoderKind(BahdanauDecoder, ("attn_dim", "normaliser")),
    "additive attention on s_{t-1}",
    "[Bahdanau15]",
)
DECODERS.register(
    "bahdanau-coverage",
    DecoderKind(CoverageBahdanauDecoder, ("attn_dim", "normaliser")),
    "additive attention that also sees the coverage (sum of past weights)",
    "[Tu16] Eq. 7",
)
