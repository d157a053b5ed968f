"""Attention over speech frames: a self-attention encoder that classifies spoken words.

Log-mel frames (B, T, D) (:mod:`attnkit.data.audio`, one every 10 ms) are shortened four times
by two 3 x 3 convolutions of stride 2 over time and frequency (the convolutional front end of the
Speech-Transformer [Dong18] Sec. 3.1), so one encoder position covers 40 ms; sinusoidal
positional encodings are added [Vaswani17] Sec. 3.5, and L pre-LN encoder blocks of the core's
:class:`attnkit.nn.MultiHeadAttention` (:class:`attnkit.models.transformer.EncoderLayer`, the
blocks of the text Transformer) relate every position to every other. Attention pooling
[Yang16] Eqs. 5-7 turns the positions into one vector for the linear classifier. Every layer's
self-attention and the pooling weights come out, so they can be drawn over the spectrogram.

The model family ``speech-encoder`` (:class:`SpeechEncoderFamily`, registered here in
:data:`attnkit.models.FAMILIES`) builds it for a :class:`SpeechSpec`.

Differences from the papers: sizes fit a few thousand short words (width 96, two layers); the
class comes from attention pooling over the positions, not from a class token or a decoder.

References:
    [Dong18] L. Dong, S. Xu, B. Xu. Speech-Transformer: A No-Recurrence Sequence-to-Sequence
    Model for Speech Recognition. ICASSP 2018. DOI:10.1109/ICASSP.2018.8462506.
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Yang16] Z. Yang et al. Hierarchical Attention Networks for Document Classification. NAACL 2016.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..functional import padding_mask
from ..nn import AttentionPooling, SinusoidalPositionalEncoding
from ..schema import check_positive
from .families import FAMILIES, ModelSpec
from .transformer import EncoderLayer

__all__ = ["ConvSubsampling", "SpeechClassifier", "SpeechClassifierOutput", "SpeechSpec", "SpeechEncoderConfig",
           "SpeechEncoderFamily", "MIN_FRAMES"]

MIN_FRAMES = 7  # the shortest input two stride-2 3x3 convolutions turn into one position


def _check_frames(frames: Tensor, lengths: Tensor, n_mels: int) -> None:
    if frames.dim() != 3 or frames.shape[-1] != n_mels:
        raise ValueError(f"frames must be (B, T, D) with D={n_mels} mel filters, got {tuple(frames.shape)}")
    if lengths.shape != frames.shape[:1] or (lengths.numel() and (int(lengths.min()) < MIN_FRAMES
                                                                   or int(lengths.max()) > frames.shape[1])):
        raise ValueError(f"lengths must be (B,) in [{MIN_FRAMES}, T={frames.shape[1]}] frames, got {lengths.tolist()}")


class ConvSubsampling(nn.Module):
    """Two Conv2d(3 x 3, stride 2) + ReLU over (time, frequency), then a linear layer to D:
    (B, T, n_mels) -> (B, T', D) with T' = ((T - 1) // 2 - 1) // 2, one position per 4 frames
    [Dong18] Sec. 3.1.

    Args:
        n_mels: input width (mel filters).
        d_model: output width D.
        channels: convolution channels.
    """

    stride = 4  # input frames per output position

    def __init__(self, n_mels: int, d_model: int, *, channels: int = 32) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.conv = nn.Sequential(nn.Conv2d(1, channels, 3, stride=2), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU())
        freq = ((n_mels - 1) // 2 - 1) // 2
        if freq < 1:
            raise ValueError(f"n_mels={n_mels} is too few for two stride-2 convolutions; give at least 7")
        self.out = nn.Linear(channels * freq, d_model)

    @staticmethod
    def output_lengths(lengths: Tensor) -> Tensor:
        """Positions T' of inputs of `lengths` frames (B,) -> (B,)."""
        return torch.div(torch.div(lengths - 1, 2, rounding_mode="floor") - 1, 2, rounding_mode="floor")

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """frames (B, T, n_mels) and lengths (B,) -> positions (B, T', D) and their lengths (B,).

        Raises:
            ValueError: for frames of another width or lengths outside [7, T].
        """
        _check_frames(frames, lengths, self.n_mels)
        x = self.conv(frames.unsqueeze(1))  # (B, C, T', F')
        x = self.out(x.permute(0, 2, 1, 3).flatten(2))  # (B, T', D)
        return x, self.output_lengths(lengths)


class SpeechClassifierOutput(NamedTuple):
    logits: Tensor  # (B, C)
    pool_weights: Tensor  # attention pooling weights over the positions, (B, T')
    layer_weights: tuple  # per encoder layer, self-attention (B, Nh, T', T'); () unless asked for
    lengths: Tensor  # real positions per row, (B,)


class SpeechClassifier(nn.Module):
    """Convolutional subsampling, positional encoding, self-attention encoder, attention pooling.

    Args:
        n_mels: frame width (mel filters).
        n_classes: number of classes.
        d_model: width D.
        n_heads: heads Nh (Dh = D / Nh).
        layers: encoder blocks L.
        d_ff: feed-forward width.
        dropout: on the positions, attention weights and sublayer outputs.
        channels: convolution channels of the front end.

    Raises:
        ValueError: if D is not divisible by Nh or n_mels < 7.
    """

    def __init__(self, n_mels: int, n_classes: int, *, d_model: int = 96, n_heads: int = 4, layers: int = 2,
                 d_ff: int = 192, dropout: float = 0.1, channels: int = 32) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.subsample = ConvSubsampling(n_mels, d_model, channels=channels)
        self.positions = SinusoidalPositionalEncoding(d_model, dropout=dropout)
        self.layers = nn.ModuleList(EncoderLayer(d_model, n_heads, d_ff, dropout, True, None, None)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.pool = AttentionPooling(d_model, d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, frames: Tensor, lengths: Tensor, *, need_weights: bool = False) -> SpeechClassifierOutput:
        """Classify utterances.

        Args:
            frames: log-mel frames (B, T, n_mels), zero after each row's length.
            lengths: real frames per row (B,), each in [7, T].
            need_weights: also return every layer's self-attention.

        Raises:
            ValueError: for wrongly shaped frames or lengths.
        """
        x, n = self.subsample(frames, lengths)  # (B, T', D), (B,)
        mask = padding_mask(n.to(x.device), x.shape[1])  # (B, T')
        x = self.positions(x)
        weights = []
        for layer in self.layers:
            x, w = layer(x, mask, None, need_weights)
            weights += [w] if need_weights else []
        pooled = self.pool(self.norm(x), mask)  # context (B, D), weights (B, T')
        return SpeechClassifierOutput(self.head(pooled.context), pooled.weights, tuple(weights), n)


@dataclass(frozen=True)
class SpeechSpec(ModelSpec):
    """A speech classification task: log-mel frames (B, T, n_mels) -> one of n_classes classes."""

    n_mels: int
    n_classes: int


@dataclass(frozen=True)
class SpeechEncoderConfig:
    """``model.arch: speech-encoder``: :class:`SpeechClassifier`."""

    arch: str = "speech-encoder"
    d_model: int = 96
    n_heads: int = 4
    layers: int = 2
    d_ff: int = 192
    channels: int = 32
    dropout: float = 0.1

    def check(self) -> None:
        check_positive(self, "d_model", "n_heads", "layers", "d_ff", "channels", section="model")
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must lie in [0, 1), got {self.dropout}")


class SpeechEncoderFamily:
    """Self-attention encoders over speech frames with attention pooling [Dong18], [Yang16]."""

    name = "speech-encoder"
    config_class = SpeechEncoderConfig
    spec_class = SpeechSpec

    @classmethod
    def build(cls, cfg: SpeechEncoderConfig, spec: SpeechSpec) -> nn.Module:
        try:
            return SpeechClassifier(spec.n_mels, spec.n_classes, d_model=cfg.d_model, n_heads=cfg.n_heads,
                                    layers=cfg.layers, d_ff=cfg.d_ff, dropout=cfg.dropout, channels=cfg.channels)
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None

    @classmethod
    def label(cls, cfg: SpeechEncoderConfig) -> str:
        return "speech-encoder"


FAMILIES.register("speech-encoder", SpeechEncoderFamily, "speech frames: conv subsampling, self-attention encoder, "
                  "attention pooling", "[Dong18], [Yang16]")
