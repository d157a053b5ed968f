"""Sequence-to-sequence models that read speech frames: the existing RNN encoder-decoder (any
attention by name) and Transformer, each behind an encoder that shortens the frame sequence.

One second of speech is 100 log-mel frames; an output character covers tens of them. The RNN
models read the frames with a *listener* [Chan16] Sec. 3.1: a BiLSTM, then pyramid layers that
each concatenate pairs of consecutive outputs, h^j_i = BLSTM(h^j_{i-1}, [h^{j-1}_{2i};
h^{j-1}_{2i+1}]) (Eq. 5), halving the time resolution, so three pyramid layers give one
annotation per 80 ms; or (``frontend="conv"``) the two stride-2 convolutions of
:class:`~attnkit.models.frontends.ConvSubsampling` and one BiLSTM (one annotation per 40 ms); or
(``frontend="self-attention"``) the same convolutions, sinusoidal positions and Transformer
encoder layers [Dong18] (one annotation per 40 ms, no recurrence). The
decoder, its attention (``bahdanau``, ``location-aware``, ...), greedy and beam search are the
text model's: :class:`SpeechSeq2Seq` is a :class:`~attnkit.models.Seq2Seq` whose ``encode``
takes frames. :class:`SpeechTransformer` is a :class:`~attnkit.models.TransformerSeq2Seq` whose
source embedding is the convolutional subsampling [Dong18].

Differences from the papers: sizes are small (the listener of [Chan16] has 3 pyramid layers of
256 units per direction); a row with an odd number of positions drops its last one before a
pyramid layer, as the paper's concatenation implies.

References:
    [Chan16] W. Chan, N. Jaitly, Q. Le, O. Vinyals. Listen, Attend and Spell. ICASSP 2016.
    arXiv:1508.01211.
    [Dong18] L. Dong, S. Xu, B. Xu. Speech-Transformer: A No-Recurrence Sequence-to-Sequence
    Model for Speech Recognition. ICASSP 2018. DOI:10.1109/ICASSP.2018.8462506.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..functional import padding_mask
from ..nn import SinusoidalPositionalEncoding
from ..nn.dropout import Dropout
from .frontends import ConvSubsampling, check_frames
from .rnn import Memory, Seq2Seq
from .transformer import EncoderLayer, TransformerMemory, TransformerSeq2Seq

__all__ = [
    "ListensToFrames",
    "PyramidalListener",
    "ConvListener",
    "SelfAttentionListener",
    "SpeechSeq2Seq",
    "SpeechTransformer",
    "FRONTENDS",
]

FRONTENDS = ("pyramid", "conv", "self-attention")


def _blstm(x: Tensor, lengths: Tensor, rnn: nn.LSTM) -> tuple[Tensor, Tensor]:
    """Run `rnn` over packed rows; outputs (B, T, 2H) zero after each length, final (B, 2H)."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, (h_n, _) = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, torch.cat([h_n[-2], h_n[-1]], dim=-1)


class ListensToFrames(Protocol):
    """What the models built for a :class:`~attnkit.models.specs.SpeechSeq2SeqSpec` (:class:`SpeechSeq2Seq`,
    :class:`SpeechTransformer`) add to a step decoder: the time scale of their memory."""

    @property
    def frames_per_position(self) -> int:
        """Input frames per memory position."""

    def memory_lengths(self, src_lengths: Tensor) -> Tensor:
        """Memory positions per row of `src_lengths` frames."""


class PyramidalListener(nn.Module):
    """The listener of [Chan16] Sec. 3.1, Eq. 5: a BiLSTM over the frames, then `pyramid`
    BiLSTM layers over pairs of consecutive outputs; (B, T, n_mels) -> (B, T / 2^pyramid, 2H).

    Args:
        n_mels: frame width.
        hidden_dim: LSTM width per direction H.
        pyramid: pyramid layers (each halves the time resolution).
        dropout: between layers.
    """

    def __init__(self, n_mels: int, hidden_dim: int, *, pyramid: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.bottom = nn.LSTM(n_mels, hidden_dim, batch_first=True, bidirectional=True)
        self.pyramid = nn.ModuleList(
            nn.LSTM(4 * hidden_dim, hidden_dim, batch_first=True, bidirectional=True) for _ in range(pyramid)
        )
        self.dropout = Dropout(dropout)
        self.output_dim = 2 * hidden_dim
        self.stride = 2**pyramid  # frames per annotation

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Annotations per row of `lengths` frames (B,) -> (B,), at least 1."""
        return torch.clamp(torch.div(lengths, self.stride, rounding_mode="floor"), min=1)

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """frames (B, T, n_mels), lengths (B,) -> annotations (B, T', 2H), final (B, 2H), lengths (B,).

        Raises:
            ValueError: for frames of another width or lengths outside [7, T].
        """
        check_frames(frames, lengths, self.n_mels)
        pad = (-frames.shape[1]) % self.stride
        x = nn.functional.pad(frames, (0, 0, 0, pad))  # (B, T + pad, D): T divisible by 2^pyramid
        n = torch.clamp(lengths, min=self.stride)  # every row keeps >= 1 annotation
        x, final = _blstm(x, n, self.bottom)
        for rnn in self.pyramid:
            x = self.dropout(x)
            b, t, d = x.shape
            x = x.reshape(b, t // 2, 2 * d)  # [h_{2i}; h_{2i+1}]   Eq. 5
            n = torch.div(n, 2, rounding_mode="floor")
            x, final = _blstm(x, n, cast(nn.LSTM, rnn))
        return x, final, n


class ConvListener(nn.Module):
    """Two stride-2 convolutions (:class:`~attnkit.models.frontends.ConvSubsampling`) and a BiLSTM:
    (B, T, n_mels) -> (B, T', 2H), one annotation per 4 frames.

    Args:
        n_mels: frame width.
        hidden_dim: LSTM width per direction H.
        layers: stacked BiLSTM layers.
        channels: convolution channels.
    """

    stride = ConvSubsampling.stride

    def __init__(self, n_mels: int, hidden_dim: int, *, layers: int = 1, channels: int = 32) -> None:
        super().__init__()
        self.subsample = ConvSubsampling(n_mels, 2 * hidden_dim, channels=channels)
        self.rnn = nn.LSTM(2 * hidden_dim, hidden_dim, num_layers=layers, batch_first=True, bidirectional=True)
        self.output_dim = 2 * hidden_dim

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return ConvSubsampling.output_lengths(lengths)

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """frames (B, T, n_mels), lengths (B,) -> annotations (B, T', 2H), final (B, 2H), lengths (B,)."""
        x, n = self.subsample(frames, lengths)
        x, final = _blstm(x, n, self.rnn)
        return x, final, n


class SelfAttentionListener(nn.Module):
    """The Speech-Transformer's encoder [Dong18] as a listener for the RNN decoders: two stride-2
    convolutions (:class:`~attnkit.models.frontends.ConvSubsampling`), sinusoidal positions, then
    pre-LN Transformer encoder layers on the core's multi-head attention; (B, T, n_mels) ->
    (B, T', 2H), one annotation per 4 frames, zero after each row's length. The final state for
    the decoder's bridge is the mean of the real annotations.

    Without recurrence no position holds a summary of the whole recording, so an attention
    decoder cannot fall back on one (the BiLSTM listeners' ends do; see docs/results/speech.md).

    Args:
        n_mels: frame width.
        hidden_dim: half the annotation width (annotations are 2H wide, as the BiLSTMs' are).
        layers: encoder layers.
        n_heads: attention heads per layer (must divide 2H).
        dropout: inside the encoder layers.
        max_positions: longest input in positions (frames / 4).

    Raises:
        ValueError: if `n_heads` does not divide 2H.
    """

    stride = ConvSubsampling.stride

    def __init__(
        self,
        n_mels: int,
        hidden_dim: int,
        *,
        layers: int = 2,
        n_heads: int = 4,
        dropout: float = 0.0,
        max_positions: int = 4096,
    ) -> None:
        super().__init__()
        width = 2 * hidden_dim
        if width % n_heads:
            raise ValueError(f"{n_heads} heads do not divide the annotation width 2 x hidden_dim = {width}")
        self.subsample = ConvSubsampling(n_mels, width)
        self.positions = SinusoidalPositionalEncoding(width, max_len=max_positions, dropout=dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(width, n_heads, 2 * width, dropout, True, None, None) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(width)
        self.output_dim = width

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return ConvSubsampling.output_lengths(lengths)

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """frames (B, T, n_mels), lengths (B,) -> annotations (B, T', 2H), final (B, 2H), lengths (B,).

        Raises:
            ValueError: for frames of another width or lengths outside [7, T].
        """
        x, n = self.subsample(frames, lengths)
        mask = padding_mask(n.to(x.device), x.shape[1])  # (B, T') True = real
        x = self.positions(x)
        for layer in self.layers:
            x, _ = layer(x, mask, None, False)
        x = self.norm(x) * mask.unsqueeze(-1)  # (B, T', 2H), zero on padding
        final = x.sum(1) / n.clamp(min=1).unsqueeze(-1).to(x.dtype)  # mean of the real annotations
        return x, final, n


class SpeechSeq2Seq(Seq2Seq):
    """:class:`~attnkit.models.Seq2Seq` over speech frames: the listener replaces the token
    encoder; the decoder (``attention`` by name), ``step`` and ``forward`` are the text model's.

    Args:
        n_mels: frame width.
        tgt_vocab_size: output vocabulary size V.
        frontend: ``"pyramid"`` (:class:`PyramidalListener`), ``"conv"`` (:class:`ConvListener`) or
            ``"self-attention"`` (:class:`SelfAttentionListener`).
        **kwargs: :class:`~attnkit.models.Seq2Seq`'s options (attention, hidden_dim, ...);
            ``enc_layers`` counts the pyramid layers (each halves the time resolution; 3 in
            [Chan16]), the BiLSTM layers over the convolutions, or the encoder layers;
            ``bidirectional`` must stay True and ``cell`` applies to the decoder (the BiLSTM
            listeners are LSTMs); ``init="paper"`` initialises the decoder, the listener keeps PyTorch's.

    Raises:
        ValueError: for an unknown frontend, a unidirectional encoder, or Seq2Seq's errors.
    """

    encoder: PyramidalListener | ConvListener | SelfAttentionListener

    def __init__(self, n_mels: int, tgt_vocab_size: int, *, frontend: str = "pyramid", **kwargs: Any) -> None:
        if frontend not in FRONTENDS:
            raise ValueError(f"unknown frontend {frontend!r}; choose one of: {', '.join(FRONTENDS)}")
        if not kwargs.get("bidirectional", True):
            raise ValueError("the listener is bidirectional; set bidirectional=true")
        layers = kwargs.pop("enc_layers", {"pyramid": 3, "conv": 1, "self-attention": 2}[frontend])
        super().__init__(1, tgt_vocab_size, **kwargs)
        hidden, dropout = kwargs.get("hidden_dim", 128), kwargs.get("dropout", 0.0)
        if frontend == "pyramid":
            self.encoder = PyramidalListener(n_mels, hidden, pyramid=layers, dropout=dropout)
        elif frontend == "conv":
            self.encoder = ConvListener(n_mels, hidden, layers=layers)
        else:
            self.encoder = SelfAttentionListener(n_mels, hidden, layers=layers, dropout=dropout)

    @property
    def frames_per_position(self) -> int:
        """Input frames per annotation (for time axes)."""
        return self.encoder.stride

    def memory_lengths(self, src_lengths: Tensor) -> Tensor:
        """Annotations per row of `src_lengths` frames."""
        return self.encoder.output_lengths(src_lengths)

    def encode(self, src: Tensor, src_lengths: Tensor) -> Memory:
        """Encode frames (B, T, n_mels) with lengths (B,) -> :class:`~attnkit.models.Memory` over
        the listener's annotations (B, T', 2H)."""
        annotations, final, n = self.encoder(src, src_lengths)
        mask = padding_mask(n.to(src.device), annotations.shape[1])  # (B, T')
        return Memory(annotations, mask, final, self.decoder.project_keys(annotations))


class SpeechTransformer(TransformerSeq2Seq):
    """:class:`~attnkit.models.TransformerSeq2Seq` over speech frames: the source embedding is
    :class:`~attnkit.models.frontends.ConvSubsampling` (one position per 4 frames, [Dong18]).

    Args:
        n_mels: frame width.
        tgt_vocab_size: output vocabulary size V.
        channels: convolution channels.
        **kwargs: :class:`~attnkit.models.TransformerSeq2Seq`'s options; `max_len` counts
            encoder positions (frames / 4) and output tokens.

    Raises:
        ValueError: as :class:`~attnkit.models.TransformerSeq2Seq`.
    """

    frames_per_position = ConvSubsampling.stride

    def __init__(self, n_mels: int, tgt_vocab_size: int, *, channels: int = 32, **kwargs: Any) -> None:
        super().__init__(1, tgt_vocab_size, **kwargs)
        del self.src_embedding
        self.subsample = ConvSubsampling(n_mels, self.d_model, channels=channels)

    def memory_lengths(self, src_lengths: Tensor) -> Tensor:
        return ConvSubsampling.output_lengths(src_lengths)

    def source(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder inputs (B, T', D) and padding mask (B, T') of frames (B, T, n_mels)."""
        x, n = self.subsample(src, src_lengths)
        mask = padding_mask(n.to(src.device), x.shape[1])
        x = self.positions(x) if self.positions is not None else self.embed_dropout(x)
        return x, mask

    def encode(self, src: Tensor, src_lengths: Tensor, *, need_weights: bool = False) -> TransformerMemory:
        """Encode frames (B, T, n_mels) with lengths (B,) -> :class:`TransformerMemory`."""
        x, mask = self.source(src, src_lengths)
        bias = self._alibi(x.shape[1], x.shape[1], src.device)
        for layer in self.encoder:
            x, _ = layer(x, mask, bias, need_weights)
        x = self.enc_norm(x)
        return TransformerMemory(x, mask, self._cross_keys(x))

    def attention_maps(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor):
        raise ValueError("per-layer maps of the speech Transformer are not drawn; use the decoded weights")
