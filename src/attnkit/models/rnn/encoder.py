"""The RNN encoder (embedding and a (bi)directional GRU/LSTM over packed sequences) and the small
recurrent parts the decoders share: one cell behind one signature, and the bridge from the final
encoder state to the first decoder state.

Differences from the papers: the GRU is PyTorch's, which applies the reset gate after the
recurrent product, n = tanh(W x + b_W + r ⊙ (U s + b_U)), where [Cho14] Eq. 8 and [Bahdanau15]
App. A.1.1 have tanh(W x + U (r ⊙ s)) (the cuDNN variant of the GRU).

References:
    [Cho14] K. Cho, B. van Merrienboer, C. Gulcehre, et al. Learning Phrase Representations using
    RNN Encoder-Decoder for Statistical Machine Translation. EMNLP 2014. arXiv:1406.1078.
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ...nn.dropout import Dropout
from .state import DecoderState

__all__ = ["RNNEncoder", "Cell", "Bridge", "rnn_classes", "layer_first", "CELLS"]

_RNNS: dict[str, tuple[type[nn.GRU] | type[nn.LSTM], type[nn.GRUCell] | type[nn.LSTMCell]]] = {
    "gru": (nn.GRU, nn.GRUCell),
    "lstm": (nn.LSTM, nn.LSTMCell),
}

#: The recurrent cells by name.
CELLS = tuple(_RNNS)


def rnn_classes(cell: str) -> tuple[type[nn.GRU] | type[nn.LSTM], type[nn.GRUCell] | type[nn.LSTMCell]]:
    """(multi-step RNN class, one-step cell class) of `cell`.

    Raises:
        ValueError: for an unknown cell name.
    """
    if cell not in _RNNS:
        raise ValueError(f"unknown RNN cell {cell!r}; choose one of: {', '.join(_RNNS)}")
    return _RNNS[cell]


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
        self,
        vocab_size: int,
        emb_dim: int,
        hidden_dim: int,
        *,
        cell: str = "gru",
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        rnn_cls, _ = rnn_classes(cell)
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.dropout = Dropout(dropout)
        self.rnn = rnn_cls(
            emb_dim,
            hidden_dim,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
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


class Cell(nn.Module):
    """A GRUCell or LSTMCell behind one signature: step(x, hidden, cell) -> (hidden, cell)."""

    def __init__(self, cell: str, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.is_lstm = cell == "lstm"
        self.rnn = rnn_classes(cell)[1](input_dim, hidden_dim)

    def forward(self, x: Tensor, hidden: Tensor, cell: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """x (B, Din), hidden and cell (B, Dd) -> new hidden and cell (None for a GRU)."""
        if self.is_lstm:
            h, c = self.rnn(x, (hidden, cell))
            return h, c
        return self.rnn(x, hidden), None


class Bridge(nn.Module):
    """Initial decoder state from the final encoder state: s_0 = tanh(W_s h_final) [Bahdanau15]
    App. A.2.2 (there from the backward state only; we use both directions)."""

    def __init__(self, enc_dim: int, dec_dim: int, lstm: bool) -> None:
        super().__init__()
        self.lstm = lstm
        self.proj = nn.Linear(enc_dim, dec_dim)

    def forward(self, final: Tensor, with_feed: bool) -> DecoderState:
        """final (B, Dk) -> the state before the first step (zero cell and feed where used)."""
        hidden = torch.tanh(self.proj(final))  # (B, Dd)
        zeros = torch.zeros_like(hidden)
        return DecoderState(hidden, zeros if self.lstm else None, zeros if with_feed else None)


def layer_first(state: DecoderState) -> Tensor | tuple[Tensor, Tensor]:
    """The state as nn.GRU / nn.LSTM take it: (1, B, Dd), or a pair of them for an LSTM."""
    h0 = state.hidden.unsqueeze(0)
    return (h0, state.cell.unsqueeze(0)) if state.cell is not None else h0
