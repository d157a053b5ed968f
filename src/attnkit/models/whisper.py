"""Whisper [Radford22]: a pre-LN Transformer encoder-decoder over log-mel frames, in attnkit's own
modules, so that checkpoints imported with ``attnkit import-hf`` decode with attnkit's greedy and
beam search and show their cross-attention over the recording.

The encoder reads log-mel frames (B, T, n_mels) through two convolutions of width 3 with GELU
(the second of stride 2: one encoder position per two frames, 20 ms at Whisper's 10 ms hop),
adds a fixed sinusoidal table, then runs pre-LN :class:`~attnkit.models.transformer.EncoderLayer`
blocks (GELU, LayerNorm eps 1e-5) and a final LayerNorm. The decoder embeds tokens, adds learned
positions, runs pre-LN decoder layers (self-attention, cross-attention, FFN) and a final
LayerNorm; the output projection is the token embedding (tied, no bias). Incremental decoding,
beam folding and the KV cache are :class:`~attnkit.models.transformer.TransformerSeq2Seq`'s: this
model changes only the embeddings and the encoder.

References:
    [Radford22] A. Radford, J. W. Kim, T. Xu, G. Brockman, C. McLeavey, I. Sutskever. Robust
    Speech Recognition via Large-Scale Weak Supervision. ICML 2023. arXiv:2212.04356.
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.dropout import Dropout
from ..nn.positional import LearnedPositionalEncoding
from .decoder_cache import TransformerState
from .transformer import AttentionMaps, EncoderLayer, TransformerMemory, TransformerSeq2Seq, _DecoderLayer

__all__ = ["WhisperSeq2Seq", "whisper_sinusoids"]


def whisper_sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> Tensor:
    """Whisper's fixed encoder positions [Radford22] Sec. 2.2, as its reference code makes them:
    sines of all positions in the first half of the channels, cosines in the second, with
    timescales 1 .. `max_timescale` spaced geometrically over channels / 2 - 1 steps.

    Returns:
        (length, channels) float32.

    Raises:
        ValueError: for an odd number of channels (or fewer than 4).

    Differences from [Vaswani17] Sec. 3.5: sines and cosines are not interleaved, and the
    exponent divides by channels / 2 - 1 instead of channels / 2.
    """
    if channels % 2 or channels < 4:
        raise ValueError(f"Whisper's sinusoids need an even number of channels >= 4, got {channels}")
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2))
    scaled = torch.arange(length)[:, None] * inv_timescales[None, :]  # (length, channels / 2)
    return torch.cat([scaled.sin(), scaled.cos()], dim=1)


class WhisperFrontEnd(nn.Module):
    """Frames (B, T, n_mels) -> (B, ceil(T / 2), D): conv(3) + GELU, conv(3, stride 2) + GELU, plus the
    fixed sinusoidal position of each output ([Radford22] Fig. 1). ``positions`` is a buffer
    (saved with the weights, as the checkpoints store it) holding :func:`whisper_sinusoids`."""

    positions: Tensor  # (max_positions, D)

    def __init__(self, n_mels: int, d_model: int, max_positions: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d_model, d_model, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positions", whisper_sinusoids(max_positions, d_model))

    def forward(self, frames: Tensor) -> Tensor:
        x = F.gelu(self.conv1(frames.transpose(1, 2)))  # (B, D, T)
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (B, Tk, D), Tk = ceil(T / 2)
        return x + self.positions[: x.shape[1]]


class WhisperSeq2Seq(TransformerSeq2Seq):
    """Whisper's encoder-decoder [Radford22] Sec. 2.2, Fig. 1, on attnkit's Transformer layers.

    Args:
        vocab_size: output vocabulary V (the decoder's tokens).
        n_mels: mel filters per input frame.
        d_model: width D.
        encoder_layers, decoder_layers: blocks in each stack.
        encoder_heads, decoder_heads: attention heads (head width D / heads).
        encoder_ffn, decoder_ffn: inner widths of the feed-forward sublayers.
        max_source_positions: encoder positions Tk the sinusoidal table holds (1500 = 30 s);
            inputs may have up to twice as many frames.
        max_target_positions: decoder positions the learned table holds (448).
        dropout: on sublayer outputs, attention weights and embeddings (training only).
        scale_embedding: multiply token embeddings by sqrt(D) (False in Whisper's checkpoints).
        suppress_tokens: token ids :meth:`step` never writes (log-probability -inf), as Hugging
            Face's ``SuppressTokensLogitsProcessor`` (non-speech symbols in Whisper's checkpoints).
        begin_suppress_tokens: token ids not written at decoder position `first_position` (the
            first token after the prompt), as ``SuppressTokensAtBeginLogitsProcessor`` (the blank
            and the end token in Whisper's checkpoints).
        first_position: the decoder position of the first token after the prompt (1 + the
            prompt's length).

    Raises:
        ValueError: for widths not divisible by the heads, or an odd width.

    Differences from the paper:
        The key projections of Whisper have no bias; attnkit's have one, which an imported
        checkpoint sets to zero (the same outputs). The encoder's frame count is not fixed to 3,000:
        any count up to ``2 * max_source_positions`` is read (Hugging Face's implementation
        refuses anything but the full 30 s).
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        n_mels: int = 80,
        d_model: int = 384,
        encoder_layers: int = 4,
        decoder_layers: int = 4,
        encoder_heads: int = 6,
        decoder_heads: int = 6,
        encoder_ffn: int = 1536,
        decoder_ffn: int = 1536,
        max_source_positions: int = 1500,
        max_target_positions: int = 448,
        dropout: float = 0.0,
        scale_embedding: bool = False,
        suppress_tokens: tuple[int, ...] = (),
        begin_suppress_tokens: tuple[int, ...] = (),
        first_position: int = 1,
    ) -> None:
        nn.Module.__init__(self)  # not TransformerSeq2Seq's: no source embedding, Whisper's own parts
        for heads in (encoder_heads, decoder_heads):
            if d_model % heads:
                raise ValueError(f"d_model={d_model} is not divisible by {heads} heads")
        self.d_model, self.n_heads = d_model, decoder_heads
        self.max_source_positions = max_source_positions
        self.embed_scale = math.sqrt(d_model) if scale_embedding else 1.0
        self.suppress_pad = False  # TransformerSeq2Seq.step's Marian rule; Whisper suppresses its own tokens
        self._transposed = {}  # TransformerSeq2Seq's fast decoder step: its transposed weight copies
        self.frontend = WhisperFrontEnd(n_mels, d_model, max_source_positions)
        self.tgt_embedding = nn.Embedding(vocab_size, d_model)
        self.positions = LearnedPositionalEncoding(d_model, max_len=max_target_positions, dropout=dropout)
        self.alibi = None
        self.embed_dropout = Dropout(dropout)
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, encoder_heads, encoder_ffn, dropout, True, None, None, "gelu", eps=1e-5)
            for _ in range(encoder_layers)
        )
        self.decoder = nn.ModuleList(
            _DecoderLayer(d_model, decoder_heads, decoder_ffn, dropout, True, None, None, "gelu", eps=1e-5)
            for _ in range(decoder_layers)
        )
        self.enc_norm = nn.LayerNorm(d_model)
        self.dec_norm = nn.LayerNorm(d_model)
        self.generator = nn.Linear(d_model, vocab_size, bias=False)
        self.generator.weight = self.tgt_embedding.weight  # tied [Radford22] (the decoder's output layer)
        self.uses_attention = True
        self.suppress_tokens, self.begin_suppress_tokens = list(suppress_tokens), list(begin_suppress_tokens)
        self.first_position = first_position

    # --- the time scale of the memory (attnkit.models.speech_seq2seq.ListensToFrames) ---------
    @property
    def frames_per_position(self) -> int:
        """Input frames per encoder position: 2 (the second convolution's stride)."""
        return 2

    def memory_lengths(self, src_lengths: Tensor) -> Tensor:
        """Encoder positions covering `src_lengths` (B,) frames: ceil(frames / 2)."""
        return (src_lengths + 1) // 2

    # --- what differs from TransformerSeq2Seq -------------------------------------------------
    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int) -> Tensor:
        """Token embeddings (times sqrt(D) if ``scale_embedding``) plus the learned positions
        offset .., then dropout; tokens (B, Tq) -> (B, Tq, D)."""
        positions = cast(LearnedPositionalEncoding, self.positions)
        return positions(embedding(tokens) * self.embed_scale, offset)

    def _encoder(self, src: Tensor, need_weights: bool) -> tuple[Tensor, list]:
        if src.dim() != 3 or not 0 < src.shape[1] <= 2 * self.max_source_positions:
            raise ValueError(
                f"Whisper reads frames (B, T, n_mels) with 0 < T <= {2 * self.max_source_positions}, got "
                f"{tuple(src.shape)}; pad or cut the log-mel frames to the model's 30 s window"
            )
        x = self.embed_dropout(self.frontend(src))  # (B, Tk, D)
        weights = []
        for layer in self.encoder:
            x, w = layer(x, None, None, need_weights)
            weights.append(w)
        return self.enc_norm(x), weights

    def encode(self, src: Tensor, src_lengths: Tensor, *, need_weights: bool = False) -> TransformerMemory:
        """Encode log-mel frames `src` (B, T, n_mels) -> :class:`TransformerMemory` over
        Tk = ceil(T / 2) positions. Every position is attended to, the padding of the 30 s window
        included, as in Whisper (`src_lengths` (B,) is not used to mask).

        Raises:
            ValueError: for frames not (B, T, n_mels) with 0 < T <= 2 * max_source_positions.
        """
        x, _ = self._encoder(src, need_weights)
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)  # (B, Tk)
        return TransformerMemory(x, mask, self._cross_keys(x))

    def step(self, prev_tokens: Tensor, state: TransformerState, memory: TransformerMemory, *, visible=None):
        """:meth:`TransformerSeq2Seq.step`, with the log-probabilities of ``suppress_tokens`` (and of
        ``begin_suppress_tokens`` at ``first_position``) set to -inf, not renormalised (as Hugging
        Face's processors on its beam search's log-probabilities)."""
        logprobs, state, weights = super().step(prev_tokens, state, memory, visible=visible)
        banned = self.suppress_tokens + (self.begin_suppress_tokens if state.position == self.first_position else [])
        if banned:
            logprobs = logprobs.index_fill(1, torch.tensor(banned, device=logprobs.device), -math.inf)
        return logprobs, state, weights

    def attention_maps(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor):
        """Refused: attnkit's layer views feed ``<s>`` + the output, without Whisper's prompt (the
        family declares no ``layer_maps``); :meth:`all_attention` takes the whole decoder input.

        Raises:
            ValueError: always.
        """
        raise ValueError("per-layer maps of Whisper are not drawn; use the decoded weights or all_attention")

    @torch.no_grad()
    def all_attention(self, src: Tensor, tgt_in: Tensor) -> AttentionMaps:
        """Every layer's per-head weights for a teacher-forced pass of `tgt_in` (B, Tq) (start
        token, prompt and output, in the model's token order) over the frames `src`
        (B, T, n_mels): encoder (B, Nh, Tk, Tk), decoder self (B, Nh, Tq, Tq) and cross
        (B, Nh, Tq, Tk) per layer."""
        x, enc_w = self._encoder(src, True)
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        memory = TransformerMemory(x, mask, self._cross_keys(x))
        _, _, self_w, cross_w = self._decode(tgt_in, memory, None, need_weights=True)
        return AttentionMaps(enc_w, self_w, cross_w)
