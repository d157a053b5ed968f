"""Attention over speech frames: a self-attention encoder that classifies spoken words.

Log-mel frames (B, T, D) (:mod:`attnkit.data.audio`, one every 10 ms) are shortened four times
by two 3 x 3 convolutions of stride 2 over time and frequency (the convolutional front end of the
Speech-Transformer [Dong18] Sec. 3.1), so one encoder position covers 40 ms; sinusoidal
positional encodings are added [Vaswani17] Sec. 3.5, and L pre-LN encoder blocks of the core's
:class:`attnkit.nn.MultiHeadAttention` (:class:`attnkit.models.transformer.EncoderLayer`, the
blocks of the text Transformer) relate every position to every other. Attention pooling
[Yang16] Eqs. 5-7 turns the positions into one vector for the linear classifier. Every layer's
self-attention and the pooling weights come out, so they can be drawn over the spectrogram.

The model family ``speech-encoder`` (:class:`~attnkit.models.speech_family.SpeechEncoderFamily`)
builds it for a :class:`~attnkit.models.specs.SpeechSpec`.

Differences from the papers: sizes fit a few thousand short words (width 96, two layers); the
class comes from attention pooling over the positions, not from a class token or a decoder.

References:
    [Dong18] L. Dong, S. Xu, B. Xu. Speech-Transformer: A No-Recurrence Sequence-to-Sequence
    Model for Speech Recognition. ICASSP 2018. DOI:10.1109/ICASSP.2018.8462506.
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Yang16] Z. Yang et al. Hierarchical Attention Networks for Document Classification. NAACL 2016.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from ..functional import padding_mask
from ..nn import AttentionPooling, SinusoidalPositionalEncoding
from .frontends import MIN_FRAMES, ConvSubsampling
from .specs import SpeechSpec
from .transformer import EncoderLayer

__all__ = ["ConvSubsampling", "SpeechClassifier", "SpeechClassifierOutput", "SpeechSpec", "MIN_FRAMES"]


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

    def __init__(
        self,
        n_mels: int,
        n_classes: int,
        *,
        d_model: int = 96,
        n_heads: int = 4,
        layers: int = 2,
        d_ff: int = 192,
        dropout: float = 0.1,
        channels: int = 32,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.subsample = ConvSubsampling(n_mels, d_model, channels=channels)
        self.positions = SinusoidalPositionalEncoding(d_model, dropout=dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, True, None, None) for _ in range(layers)
        )
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
