"""RNN encoder-decoder for translation, without attention or with Bahdanau / Luong attention.

The encoder reads the source into annotations h_j (both directions concatenated when it is
bidirectional), with packed sequences so padding never reaches them. The decoder is chosen by
name from :data:`DECODERS`:

- ``none``: the fixed context vector baseline [Cho14]: the decoder sees only the final encoder
  state, as its initial state and as an extra input at every step.
- ``bahdanau``: additive attention on the previous state s_{t-1} [Bahdanau15].
- ``bahdanau-coverage``: the same, with the coverage vector in the score [Tu16].
- ``location-aware``: the same, with convolution features of the previous weights in the score
  [Chorowski15].
- ``luong-dot`` / ``luong-general`` / ``luong-concat``: global attention on the current state h_t
  and the attentional hidden state h~_t, with input feeding [Luong15].
- ``luong-local-m`` / ``luong-local-p``: Luong's local attention [Luong15] Sec. 3.2.
- ``luong-stacked`` (:mod:`attnkit.models.stacked`): every decoder layer attends.

Each decoder factory in :data:`DECODERS` names the options it takes as keyword-only parameters
(:func:`decoder_options`); :class:`Seq2Seq` refuses an option the chosen decoder does not take,
rather than dropping it.

Differences from the papers: the GRU is PyTorch's, which applies the reset gate after the
recurrent product, n = tanh(W x + b_W + r ⊙ (U s + b_U)), where [Cho14] Eq. 8 and [Bahdanau15]
App. A.1.1 have tanh(W x + U (r ⊙ s)) (the cuDNN variant of the GRU).

References:
    [Cho14] K. Cho, B. van Merrienboer, C. Gulcehre, et al. Learning Phrase Representations using
    RNN Encoder-Decoder for Statistical Machine Translation. EMNLP 2014. arXiv:1406.1078.
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

import contextlib
import inspect
from typing import Any, Callable, Iterator, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..functional import padding_mask
from ..nn import AdditiveAttention, CoverageAttention, LocationAwareAttention, LuongAttention
from ..nn.local import LocalMonotonicAttention, LocalPredictiveAttention
from ..registry import Registry
from .paper_init import PAPER_INITS

__all__ = ["RNNEncoder", "Memory", "DecoderState", "DecoderOutput", "Seq2Seq", "Seq2SeqOutput", "DECODERS",
           "DECODER_OPTIONS", "INITS", "decoder_options"]

_RNNS: dict[str, tuple[type[nn.RNNBase], type[nn.Module]]] = {
    "gru": (nn.GRU, nn.GRUCell),
    "lstm": (nn.LSTM, nn.LSTMCell),
}


def _rnn_classes(cell: str) -> tuple[type[nn.RNNBase], type[nn.Module]]:
    if cell not in _RNNS:
        raise ValueError(f"unknown RNN cell {cell!r}; choose one of: {', '.join(_RNNS)}")
    return _RNNS[cell]


@contextlib.contextmanager
def float32_steps(emb: Tensor, state: Any, memory: Any) -> Iterator[tuple[Tensor, Any, Any]]:
    """Run a step-by-step recurrence in float32 even under autocast.

    Yields `emb`, `state` and `memory` unchanged without autocast; under autocast, leaves it for
    the block and yields their floating-point tensors in float32. A decoder step multiplies
    matrices of one row per sentence, too small for bfloat16 units to pay off, while autocast
    adds a cast (and its backward) in front of every one of them: measured with
    ``benchmarks/train_throughput.py``, the Bahdanau model trains about 10 % faster this way
    (2,849-3,015 -> 3,280-3,307 target tokens/s, bf16, 2 threads). Work done once for all steps
    (the output layer, the loss) stays under autocast.
    """
    device = emb.device.type
    if not torch.is_autocast_enabled(device):
        yield emb, state, memory
        return
    with torch.autocast(device, enabled=False):
        yield _as_float32(emb), _as_float32(state), _as_float32(memory)


def _as_float32(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.float() if obj.is_floating_point() and obj.dtype != torch.float64 else obj
    if isinstance(obj, tuple):
        items = [_as_float32(x) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj


class Memory(NamedTuple):
    """What the encoder hands the decoder; fixed for the whole output sentence."""

    annotations: Tensor  # h_j, (B, Tk, Dk)
    mask: Tensor  # (B, Tk) bool, True = real token
    final: Tensor  # final encoder state (both directions), (B, Dk)
    projected_keys: Tensor | None  # step-independent part of the score, (B, Tk, Da)


class DecoderState(NamedTuple):
    """Recurrent decoder state; every field is batch-first so beams can be reordered."""

    hidden: Tensor  # s_t or h_t, (B, Dd)
    cell: Tensor | None  # LSTM cell state, (B, Dd); None for a GRU
    feed: Tensor | None  # h~_t for input feeding [Luong15] Sec. 3.3, (B, Dd)
    position: int = 0  # output tokens decoded so far: the target position t of the next step
    coverage: Tensor | None = None  # attention received so far per source position [Tu16], (B, Tk)
    prev_weights: Tensor | None = None  # alpha_{t-1} of location-aware attention [Chorowski15], (B, Tk)

    def select(self, index: Tensor) -> "DecoderState":
        """Keep batch rows `index` (B',) of every tensor field, in that order: the decoder that
        drives the beams (:mod:`attnkit.decoding`) reorders them or drops finished rows."""
        return self._replace(**{name: value.index_select(0, index) for name, value in zip(self._fields, self)
                                if isinstance(value, Tensor)})


class DecoderOutput(NamedTuple):
    """Teacher-forced decoder output."""

    output: Tensor  # pre-softmax output vectors, (B, Tq, Dd)
    weights: Tensor | None  # alignment weights (B, Tq, Tk); None without attention
    log_prob: Tensor | None = None  # (B, Tq) log-probabilities of sampled hard positions (REINFORCE)
    entropy: Tensor | None = None  # (B, Tq) entropies of the alignment distributions


class RNNEncoder(nn.Module):
    """Embedding + (bi)directional GRU/LSTM over packed sequences.

    Args:
        vocab_size: source vocabulary size V.
        emb_dim: embedding width E.
        hidden_dim: hidden width per direction H.
        cell: ``"gru"`` or ``"lstm"``.
        num_layers: stacked RNN layers.
        bidirectional: run a backward RNN too; annotations are [forward; backward] [Bahdanau15]
            Sec. 3.2.
        dropout: dropout on embeddings and between layers.
        pad_id: index of the padding token.

    Raises:
        ValueError: for an unknown cell name.

    Differences from the paper:
        PyTorch's GRU applies the reset gate after the recurrent product, r ⊙ (U h + b), where
        [Bahdanau15] App. A.1.1 (and [Cho14] Eq. 8) have U (r ⊙ h).
    """

    def __init__(
        self, vocab_size: int, emb_dim: int, hidden_dim: int, *, cell: str = "gru",
        num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0, pad_id: int = 0,
    ) -> None:
        super().__init__()
        rnn_cls, _ = _rnn_classes(cell)
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = rnn_cls(
            emb_dim, hidden_dim, num_layers=num_layers, bidirectional=bidirectional,
            batch_first=True, dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_dim = hidden_dim * (2 if bidirectional else 1)

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Annotations and final state.

        Args:
            src: source token ids, (B, Tk), padded after each sentence's `lengths[b]` tokens.
            lengths: real lengths, (B,), each >= 1.

        Returns:
            annotations (B, Tk, Dk) with zeros at padded positions, and the final state of the
            last layer, both directions concatenated, (B, Dk).

        Raises:
            ValueError: if a length is < 1 or exceeds Tk.
        """
        if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > src.shape[1]):
            raise ValueError(f"source lengths must lie in [1, {src.shape[1]}], got {lengths.tolist()}")
        emb = self.dropout(self.embedding(src))  # (B, Tk, E)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed)
        annotations, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        h_n = final[0] if isinstance(final, tuple) else final  # (layers * dirs, B, H)
        dirs = 2 if self.rnn.bidirectional else 1
        last = h_n[-dirs:]  # (dirs, B, H) of the top layer
        return annotations, torch.cat(list(last), dim=-1)  # (B, Tk, Dk), (B, Dk)


class _Cell(nn.Module):
    """A GRUCell or LSTMCell behind one signature: step(x, state) -> (hidden, cell)."""

    def __init__(self, cell: str, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.is_lstm = cell == "lstm"
        self.rnn = _rnn_classes(cell)[1](input_dim, hidden_dim)

    def forward(self, x: Tensor, hidden: Tensor, cell: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if self.is_lstm:
            return self.rnn(x, (hidden, cell))
        return self.rnn(x, hidden), None


class _Bridge(nn.Module):
    """Initial decoder state from the final encoder state: s_0 = tanh(W_s h_final) [Bahdanau15]
    App. A.2.2 (there from the backward state only; we use both directions)."""

    def __init__(self, enc_dim: int, dec_dim: int, lstm: bool) -> None:
        super().__init__()
        self.lstm = lstm
        self.proj = nn.Linear(enc_dim, dec_dim)

    def forward(self, final: Tensor, with_feed: bool) -> DecoderState:
        hidden = torch.tanh(self.proj(final))  # (B, Dd)
        zeros = torch.zeros_like(hidden)
        return DecoderState(hidden, zeros if self.lstm else None, zeros if with_feed else None)


def _layer_first(state: DecoderState) -> Tensor | tuple[Tensor, Tensor]:
    """The state as nn.GRU / nn.LSTM take it: (1, B, Dd), or a pair of them for an LSTM."""
    h0 = state.hidden.unsqueeze(0)
    return (h0, state.cell.unsqueeze(0)) if state.cell is not None else h0


class _FixedContextDecoder(nn.Module):
    """Decoder without attention: s_t = RNN([E y_{t-1}; c], s_{t-1}), c = final encoder state,
    output tanh(W_o [s_t; E y_{t-1}; c]) [Cho14] Sec. 2.2. It takes no decoder options.

    Differences from the paper: PyTorch's GRU has r ⊙ (U s + b) where [Cho14] Eq. 8 has
    U (r ⊙ s); the output layer is tanh, not maxout.
    """

    uses_attention = False
    init_recipe = "bahdanau15"  # the RNNencdec baseline of [Bahdanau15], trained as RNNsearch

    def __init__(self, emb_dim: int, hidden_dim: int, enc_dim: int, cell: str) -> None:
        super().__init__()
        self.bridge = _Bridge(enc_dim, hidden_dim, cell == "lstm")
        self.rnn = _rnn_classes(cell)[0](emb_dim + enc_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim + emb_dim + enc_dim, hidden_dim)
        self.output_dim = hidden_dim

    def project_keys(self, annotations: Tensor) -> Tensor | None:
        return None

    def init_state(self, memory: Memory) -> DecoderState:
        return self.bridge(memory.final, with_feed=False)

    def forward(self, emb: Tensor, state: DecoderState, memory: Memory):
        """Teacher-forced run over all steps at once: emb (B, Tq, E) -> (B, Tq, Dd), None."""
        context = memory.final.unsqueeze(1).expand(-1, emb.shape[1], -1)  # (B, Tq, Dk)
        states, _ = self.rnn(torch.cat([emb, context], dim=-1), _layer_first(state))  # (B, Tq, Dd)
        return DecoderOutput(torch.tanh(self.out(torch.cat([states, emb, context], dim=-1))), None)

    def step(self, emb: Tensor, state: DecoderState, memory: Memory):
        """One step: emb (B, E) -> output (B, Dd), new state, None."""
        x = torch.cat([emb, memory.final], dim=-1).unsqueeze(1)  # (B, 1, E + Dk)
        out, new = self.rnn(x, _layer_first(state))
        hidden, cell = (new[0][0], new[1][0]) if isinstance(new, tuple) else (new[0], None)
        output = torch.tanh(self.out(torch.cat([out[:, 0], emb, memory.final], dim=-1)))
        return output, DecoderState(hidden, cell, None, state.position + 1), None


class _BahdanauDecoder(nn.Module):
    """c_t = attend(s_{t-1}, h); s_t = RNN([E y_{t-1}; c_t], s_{t-1});
    output tanh(W_o [s_t; E y_{t-1}; c_t]) [Bahdanau15] Eqs. 4-6, App. A.2.2.

    Options: ``attn_dim`` (Da, the paper's n'; default the decoder width) and ``normaliser``.

    Differences from the paper: the maxout output layer is a tanh layer. PyTorch's GRU cell
    applies the reset gate after the recurrent product, r ⊙ (U s_{t-1} + b), where App. A.2.2
    has U (r_i ∘ s_{i-1}).
    """

    uses_attention = True
    init_recipe = "bahdanau15"

    def __init__(self, emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *,
                 attn_dim: int | None = None, normaliser: str = "softmax") -> None:
        super().__init__()
        attn_dim = attn_dim or hidden_dim
        self.bridge = _Bridge(enc_dim, hidden_dim, cell == "lstm")
        self.attention = AdditiveAttention(hidden_dim, enc_dim, attn_dim, normaliser=normaliser)
        self.cell = _Cell(cell, emb_dim + enc_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim + emb_dim + enc_dim, hidden_dim)
        self.output_dim = hidden_dim

    def project_keys(self, annotations: Tensor) -> Tensor:
        return self.attention.project_keys(annotations)

    def init_state(self, memory: Memory) -> DecoderState:
        return self.bridge(memory.final, with_feed=False)

    def _recur(self, emb: Tensor, state: DecoderState, memory: Memory):
        attended = self.attention(
            state.hidden.unsqueeze(1), memory.annotations, memory.mask, memory.projected_keys
        )  # scores with s_{t-1}
        hidden, cell = self.cell(torch.cat([emb, attended.context[:, 0]], dim=-1), state.hidden, state.cell)
        return DecoderState(hidden, cell, None, state.position + 1), attended

    def step(self, emb: Tensor, state: DecoderState, memory: Memory):
        state, att = self._recur(emb, state, memory)
        output = torch.tanh(self.out(torch.cat([state.hidden, emb, att.context[:, 0]], dim=-1)))
        return output, state, att.weights[:, 0]

    def forward(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderOutput:
        """Teacher-forced run: the recurrence step by step, the output layer once for all steps."""
        hiddens, steps = [], []
        with float32_steps(emb, state, memory) as (emb_s, state, memory):
            for t in range(emb.shape[1]):
                state, att = self._recur(emb_s[:, t], state, memory)
                hiddens.append(state.hidden), steps.append(att)
        states = torch.stack(hiddens, 1)  # (B, Tq, Dd)
        contexts = torch.cat([a.context for a in steps], 1)  # (B, Tq, Dk)
        output = torch.tanh(self.out(torch.cat([states, emb, contexts], dim=-1)))
        sampled = getattr(steps[0], "log_prob", None) is not None  # hard attention trained by REINFORCE
        return DecoderOutput(output, torch.cat([a.weights for a in steps], 1),  # (B, Tq, Tk)
                             torch.cat([a.log_prob for a in steps], 1) if sampled else None,
                             torch.cat([a.entropy for a in steps], 1) if sampled else None)


class _CoverageBahdanauDecoder(_BahdanauDecoder):
    """The Bahdanau decoder whose attention also sees the coverage vector, the running sum of past
    alignment weights [Tu16]; the coverage travels in the decoder state."""

    def __init__(self, emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *,
                 attn_dim: int | None = None, normaliser: str = "softmax") -> None:
        super().__init__(emb_dim, hidden_dim, enc_dim, cell, attn_dim=attn_dim, normaliser=normaliser)
        self.attention = CoverageAttention(hidden_dim, enc_dim, attn_dim or hidden_dim, normaliser=normaliser)

    def init_state(self, memory: Memory) -> DecoderState:
        state = super().init_state(memory)
        return state._replace(coverage=torch.zeros(memory.mask.shape, dtype=state.hidden.dtype,
                                                   device=state.hidden.device))

    def _recur(self, emb: Tensor, state: DecoderState, memory: Memory):
        attended = self.attention(state.hidden.unsqueeze(1), memory.annotations, memory.mask,
                                  memory.projected_keys, coverage=state.coverage.unsqueeze(1))
        hidden, cell = self.cell(torch.cat([emb, attended.context[:, 0]], dim=-1), state.hidden, state.cell)
        coverage = state.coverage + attended.weights[:, 0]  # C_{i,j} = C_{i-1,j} + alpha_{i,j}
        return DecoderState(hidden, cell, None, state.position + 1, coverage), attended


class _LocationAwareDecoder(_BahdanauDecoder):
    """The Bahdanau decoder with location-aware attention [Chorowski15] Sec. 2.2: the score also
    sees F * alpha_{t-1}; alpha_{t-1} travels in the decoder state (``prev_weights``), uniform
    over the real source positions before the first step.

    Options: ``attn_dim``, ``normaliser``, ``loc_filters`` (Nf, default 10) and ``loc_kernel``
    (r, odd, default 31 source positions).
    """

    def __init__(self, emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *,
                 attn_dim: int | None = None, normaliser: str = "softmax", loc_filters: int = 10,
                 loc_kernel: int = 31) -> None:
        super().__init__(emb_dim, hidden_dim, enc_dim, cell, attn_dim=attn_dim, normaliser=normaliser)
        self.attention = LocationAwareAttention(hidden_dim, enc_dim, attn_dim or hidden_dim, n_filters=loc_filters,
                                                kernel_size=loc_kernel, normaliser=normaliser)

    def init_state(self, memory: Memory) -> DecoderState:
        state = super().init_state(memory)
        return state._replace(prev_weights=LocationAwareAttention.initial_weights(memory.mask, state.hidden.dtype))

    def _recur(self, emb: Tensor, state: DecoderState, memory: Memory):
        attended = self.attention(state.hidden.unsqueeze(1), memory.annotations, memory.mask,
                                  memory.projected_keys, prev_weights=state.prev_weights.unsqueeze(1))
        hidden, cell = self.cell(torch.cat([emb, attended.context[:, 0]], dim=-1), state.hidden, state.cell)
        return DecoderState(hidden, cell, None, state.position + 1, None, attended.weights[:, 0]), attended


class _LuongDecoder(nn.Module):
    """h_t = RNN([E y_{t-1}; h~_{t-1}], h_{t-1}); a_t, c_t on h_t; h~_t = tanh(W_c [c_t; h_t])
    [Luong15] Sec. 3.1 and 3.3 (input feeding). Without input feeding the RNN runs over all steps
    at once and attention is computed for every step in one call. Registered once per score
    (:func:`_luong_dot`, ...), each factory naming the options that score takes."""

    uses_attention = True
    init_recipe = "luong15"

    def __init__(self, emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, score_name: str,
                 attn_dim: int | None = None, input_feeding: bool = True, normaliser: str = "softmax") -> None:
        super().__init__()
        attn_dim = attn_dim or hidden_dim
        self.input_feeding = input_feeding
        self.bridge = _Bridge(enc_dim, hidden_dim, cell == "lstm")
        self.attention = LuongAttention(hidden_dim, enc_dim, score_name=score_name, attn_dim=attn_dim,
                                        normaliser=normaliser)
        feed_dim = hidden_dim if input_feeding else 0
        self.cell = _Cell(cell, emb_dim + feed_dim, hidden_dim)
        self.output_dim = hidden_dim

    def project_keys(self, annotations: Tensor) -> Tensor:
        return self.attention.project_keys(annotations)

    def init_state(self, memory: Memory) -> DecoderState:
        return self.bridge(memory.final, with_feed=self.input_feeding)

    def _attend(self, queries: Tensor, memory: Memory, position: int):
        """Attention for queries (B, Tq, Dd) at target positions position, position + 1, ..."""
        return self.attention(queries, memory.annotations, memory.mask, memory.projected_keys)

    def step(self, emb: Tensor, state: DecoderState, memory: Memory):
        x = torch.cat([emb, state.feed], dim=-1) if self.input_feeding else emb
        hidden, cell = self.cell(x, state.hidden, state.cell)
        att = self._attend(hidden.unsqueeze(1), memory, state.position)
        attentional = att.attentional[:, 0]  # h~_t, (B, Dd)
        feed = attentional if self.input_feeding else None
        return attentional, DecoderState(hidden, cell, feed, state.position + 1), att.weights[:, 0]

    def forward(self, emb: Tensor, state: DecoderState, memory: Memory):
        if self.input_feeding:
            outputs, weights = [], []
            with float32_steps(emb, state, memory) as (emb, state, memory):
                for t in range(emb.shape[1]):
                    out, state, w = self.step(emb[:, t], state, memory)
                    outputs.append(out), weights.append(w)
            return DecoderOutput(torch.stack(outputs, 1), torch.stack(weights, 1))
        hiddens = []
        with float32_steps(emb, state, None) as (emb_s, state, _):
            for t in range(emb.shape[1]):
                hidden, cell = self.cell(emb_s[:, t], state.hidden, state.cell)
                state = DecoderState(hidden, cell, None, state.position + 1)
                hiddens.append(hidden)
        att = self._attend(torch.stack(hiddens, 1), memory, state.position - len(hiddens))  # all Tq at once
        return DecoderOutput(att.attentional, att.weights)


class _LocalLuongDecoder(_LuongDecoder):
    """The Luong decoder with local attention: local-m (window centred at the target position
    t) or local-p (predicted centre p_t) [Luong15] Sec. 3.2."""

    def __init__(self, emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, kind: type[nn.Module],
                 local_window: int, attn_dim: int | None = None, input_feeding: bool = True) -> None:
        super().__init__(emb_dim, hidden_dim, enc_dim, cell, score_name="general", attn_dim=attn_dim,
                         input_feeding=input_feeding)
        self.attention = kind(hidden_dim, enc_dim, window=local_window, score_name="general",
                              attn_dim=attn_dim or hidden_dim)

    def _attend(self, queries: Tensor, memory: Memory, position: int):
        return self.attention(queries, memory.annotations, memory.mask, memory.projected_keys,
                              positions=position)


def _luong_dot(emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, input_feeding: bool = True,
               normaliser: str = "softmax") -> _LuongDecoder:
    """Luong global attention with the dot score, which has no hidden layer (no attn_dim)."""
    return _LuongDecoder(emb_dim, hidden_dim, enc_dim, cell, score_name="dot", input_feeding=input_feeding,
                         normaliser=normaliser)


def _luong_general(emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, input_feeding: bool = True,
                   normaliser: str = "softmax") -> _LuongDecoder:
    """Luong global attention with the general score h_t^T W_a h_s (W_a is Dd x Dk: no attn_dim)."""
    return _LuongDecoder(emb_dim, hidden_dim, enc_dim, cell, score_name="general", input_feeding=input_feeding,
                         normaliser=normaliser)


def _luong_concat(emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, attn_dim: int | None = None,
                  input_feeding: bool = True, normaliser: str = "softmax") -> _LuongDecoder:
    """Luong global attention with the concat score, whose hidden layer has width attn_dim."""
    return _LuongDecoder(emb_dim, hidden_dim, enc_dim, cell, score_name="concat", attn_dim=attn_dim,
                         input_feeding=input_feeding, normaliser=normaliser)


def _luong_local_m(emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, local_window: int = 10,
                   input_feeding: bool = True) -> _LocalLuongDecoder:
    """Local-m with the general score: softmax over its window only (no normaliser, no attn_dim)."""
    return _LocalLuongDecoder(emb_dim, hidden_dim, enc_dim, cell, kind=LocalMonotonicAttention,
                              local_window=local_window, input_feeding=input_feeding)


def _luong_local_p(emb_dim: int, hidden_dim: int, enc_dim: int, cell: str, *, local_window: int = 10,
                   attn_dim: int | None = None, input_feeding: bool = True) -> _LocalLuongDecoder:
    """Local-p with the general score; attn_dim is the width Dp of the position predictor W_p."""
    return _LocalLuongDecoder(emb_dim, hidden_dim, enc_dim, cell, kind=LocalPredictiveAttention,
                              local_window=local_window, attn_dim=attn_dim, input_feeding=input_feeding)


DecoderFactory = Callable[..., nn.Module]
DECODERS: Registry[DecoderFactory] = Registry("attention")
DECODERS.register("none", _FixedContextDecoder, "no attention: fixed context vector", "[Cho14]")
DECODERS.register("bahdanau", _BahdanauDecoder, "additive attention on s_{t-1}", "[Bahdanau15]")
DECODERS.register("bahdanau-coverage", _CoverageBahdanauDecoder,
                  "additive attention that also sees the coverage (sum of past weights)", "[Tu16] Eq. 7")
for _score, _factory in (("dot", _luong_dot), ("general", _luong_general), ("concat", _luong_concat)):
    DECODERS.register(f"luong-{_score}", _factory, f"Luong global attention, {_score} score, on h_t",
                      "[Luong15] Eq. 8")
DECODERS.register("luong-local-m", _luong_local_m,
                  "Luong local attention, window centred at p_t = t (general score)", "[Luong15] Sec. 3.2")
DECODERS.register("luong-local-p", _luong_local_p,
                  "Luong local attention, predicted centre p_t and Gaussian (general score)", "[Luong15] Eqs. 9-10")
DECODERS.register("location-aware", _LocationAwareDecoder,
                  "additive attention that also sees convolution features of the previous weights",
                  "[Chorowski15] Eqs. 5-9")

#: The options of :class:`Seq2Seq` that only some decoders take (see :func:`decoder_options`).
DECODER_OPTIONS = ("attn_dim", "input_feeding", "normaliser", "local_window", "dec_layers", "loc_filters",
                   "loc_kernel")

#: Initialisations :class:`Seq2Seq` accepts: PyTorch's defaults, or the decoder's paper's.
INITS = ("torch", "paper")


def decoder_options(attention: str) -> frozenset[str]:
    """The :data:`DECODER_OPTIONS` the decoder registered as `attention` takes: the keyword-only
    parameters of its factory.

    Raises:
        ValueError: for an unknown attention name (the message lists the valid ones).
    """
    params = inspect.signature(DECODERS.get(attention)).parameters.values()
    return frozenset(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name in DECODER_OPTIONS)


def _check_decoder_options(attention: str, options: dict[str, Any]) -> None:
    """Raise if `options` (the ones given, i.e. not None) holds one the decoder does not take."""
    takes = decoder_options(attention)
    for name, value in options.items():
        if name not in takes:
            users = [n for n in DECODERS.names() if name in decoder_options(n)]
            own = ", ".join(o for o in DECODER_OPTIONS if o in takes) or "none"
            raise ValueError(
                f"attention={attention!r} does not take {name} (its options: {own}), so {name}={value!r} "
                f"would be ignored; remove it, or choose an attention that takes it: {', '.join(users)}")


class Seq2SeqOutput(NamedTuple):
    logits: Tensor  # (B, Tq, V)
    weights: Tensor | None  # alignment weights (B, Tq, Tk); None without attention
    log_prob: Tensor | None = None  # (B, Tq) log-probabilities of sampled hard attention (REINFORCE)
    entropy: Tensor | None = None  # (B, Tq) entropies of the alignment distributions


class Seq2Seq(nn.Module):
    """RNN encoder-decoder whose attention is chosen by name.

    Args:
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size V.
        attention: a name in :data:`DECODERS` (``attnkit list attention``): none, bahdanau,
            bahdanau-coverage, location-aware, luong-dot, luong-general, luong-concat, luong-local-m,
            luong-local-p, luong-stacked.
        cell: ``"gru"`` or ``"lstm"`` (encoder and decoder).
        emb_dim: embedding width E (source and target).
        hidden_dim: decoder width Dd and encoder width per direction.
        enc_layers: stacked encoder layers.
        bidirectional: bidirectional encoder (annotations of width 2 * hidden_dim).
        dropout: dropout on embeddings and decoder outputs.
        pad_id: padding index in both vocabularies.
        attn_dim: hidden width Da of the additive / concat score, or of local-p's position
            predictor (bahdanau, bahdanau-coverage, luong-concat, luong-local-p); defaults to
            `hidden_dim`.
        input_feeding: Luong input feeding [Luong15] Sec. 3.3 (luong-dot / -general / -concat /
            -local-m / -local-p); default True.
        normaliser: alignment function by name (see ``attnkit list normalisers``; bahdanau,
            bahdanau-coverage, luong-dot / -general / -concat); default "softmax" as in the
            papers.
        local_window: half-width D of the window of local attention, in source tokens
            (luong-local-m / luong-local-p); default 10.
        dec_layers: decoder layers, each with its own attention (luong-stacked only); default 1.
        loc_filters, loc_kernel: number Nf and odd width r (source positions) of the filters
            over the previous weights (location-aware only); default 10 and 31.
        init: ``"torch"`` keeps PyTorch's default initialisation (``nn.Linear`` and the RNNs
            U(-k^-1/2, k^-1/2) with k the input or hidden width, ``nn.Embedding`` N(0, 1));
            ``"paper"`` re-initialises every parameter as the decoder's paper did:
            [Bahdanau15] App. B.1 for none / bahdanau / bahdanau-coverage, [Luong15] Sec. 4.1
            for the Luong decoders (see :mod:`attnkit.models.paper_init`).

    The decoder options `attn_dim`, `input_feeding`, `normaliser`, `local_window`,
    `dec_layers`, `loc_filters` and `loc_kernel` default to None, meaning the decoder's own default; :func:`decoder_options`
    lists which ones a decoder takes, and giving any other is an error, never silently ignored.

    Raises:
        ValueError: for an unknown attention, cell or init name, an option the chosen decoder
            does not take (the message names the attentions that take it), or incompatible
            widths (luong-dot needs ``hidden_dim == encoder output width``: use a
            unidirectional encoder).
    """

    def __init__(
        self, src_vocab_size: int, tgt_vocab_size: int, *, attention: str = "bahdanau",
        cell: str = "gru", emb_dim: int = 64, hidden_dim: int = 128, enc_layers: int = 1,
        bidirectional: bool = True, dropout: float = 0.0, pad_id: int = 0,
        attn_dim: int | None = None, input_feeding: bool | None = None, normaliser: str | None = None,
        local_window: int | None = None, dec_layers: int | None = None, loc_filters: int | None = None,
        loc_kernel: int | None = None, init: str = "torch",
    ) -> None:
        super().__init__()
        given = {name: value for name, value in (
            ("attn_dim", attn_dim), ("input_feeding", input_feeding), ("normaliser", normaliser),
            ("local_window", local_window), ("dec_layers", dec_layers), ("loc_filters", loc_filters),
            ("loc_kernel", loc_kernel)) if value is not None}
        _check_decoder_options(attention, given)
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")
        self.attention_name = attention
        self.encoder = RNNEncoder(
            src_vocab_size, emb_dim, hidden_dim, cell=cell, num_layers=enc_layers,
            bidirectional=bidirectional, dropout=dropout, pad_id=pad_id,
        )
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=pad_id)
        self.decoder = DECODERS.get(attention)(emb_dim, hidden_dim, self.encoder.output_dim, cell, **given)
        self.dropout = nn.Dropout(dropout)
        self.generator = nn.Linear(self.decoder.output_dim, tgt_vocab_size)
        if init == "paper":
            PAPER_INITS[self.decoder.init_recipe](self)

    @property
    def uses_attention(self) -> bool:
        return self.decoder.uses_attention

    def encode(self, src: Tensor, src_lengths: Tensor) -> Memory:
        """Encode a batch: src (B, Tk) ids and lengths (B,) -> :class:`Memory`."""
        annotations, final = self.encoder(src, src_lengths)
        mask = padding_mask(src_lengths.to(src.device), src.shape[1])  # (B, Tk)
        return Memory(annotations, mask, final, self.decoder.project_keys(annotations))

    def init_state(self, memory: Memory) -> DecoderState:
        """Decoder state before the first output token."""
        return self.decoder.init_state(memory)

    def step(self, prev_tokens: Tensor, state: DecoderState, memory: Memory):
        """One decoding step.

        Args:
            prev_tokens: previous output tokens y_{t-1}, (B,).
            state: decoder state from :meth:`init_state` or the previous step.
            memory: from :meth:`encode`.

        Returns:
            (log-probabilities (B, V), new state, alignment weights (B, Tk) or None).
        """
        emb = self.tgt_embedding(prev_tokens)  # (B, E)
        output, state, weights = self.decoder.step(emb, state, memory)
        return torch.log_softmax(self.generator(output), dim=-1), state, weights

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, *, project: bool = True) -> Seq2SeqOutput:
        """Teacher forcing: logits for every target position.

        Args:
            src: source ids (B, Tk); src_lengths: (B,).
            tgt_in: decoder inputs, BOS followed by the target shifted right, (B, Tq).
            project: apply the output layer ``generator``; False returns its inputs (B, Tq, Dd)
                in the logits field, for a loss that fuses the output layer
                (:func:`attnkit.losses.fused.linear_cross_entropy`).

        Returns:
            :class:`Seq2SeqOutput` with logits (B, Tq, V) and weights (B, Tq, Tk) or None.
        """
        memory = self.encode(src, src_lengths)
        emb = self.dropout(self.tgt_embedding(tgt_in))  # (B, Tq, E)
        out = self.decoder(emb, self.init_state(memory), memory)
        features = self.dropout(out.output)
        return Seq2SeqOutput(self.generator(features) if project else features, out.weights, out.log_prob,
                             out.entropy)
