"""Attention over speech frames, drawn over the spectrogram with time in seconds.

:func:`plot_frame_attention` shows a spoken word's log-mel spectrogram, the attention pooling
weight of each encoder position under it, and the last layer's self-attention between positions;
:func:`plot_spectrogram_alignment` shows, for each output character of a sequence-to-sequence
model, its alignment weights over the frames under the spectrogram (the near-diagonal path of
[Chorowski15] Fig. 2). Both take arrays and return a Figure.

References:
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from .alignment import display_token

__all__ = ["plot_frame_attention", "plot_spectrogram_alignment"]


def _spectrogram(ax, frames: np.ndarray, frame_seconds: float) -> float:
    seconds = len(frames) * frame_seconds
    ax.imshow(frames.T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, frames.shape[1]))
    ax.set_ylabel("mel filter")
    return seconds


def plot_frame_attention(
    frames: np.ndarray,
    frame_seconds: float,
    pool_weights: np.ndarray,
    position_seconds: float,
    self_weights: np.ndarray | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Spectrogram, pooling weights and (optionally) self-attention of one utterance.

    Args:
        frames: log-mel frames (T, n_mels).
        frame_seconds: seconds per frame (the hop).
        pool_weights: weight of each encoder position (T',), in [0, 1].
        position_seconds: seconds per encoder position.
        self_weights: self-attention between positions (T', T'), rows = queries; None to omit.
        title: the figure's title.

    Raises:
        ValueError: if `frames` is not 2-D or `self_weights` is not (T', T').
    """
    if frames.ndim != 2:
        raise ValueError(f"frames must be (T, n_mels), got shape {frames.shape}")
    n = len(pool_weights)
    if self_weights is not None and self_weights.shape != (n, n):
        raise ValueError(f"self_weights must be (T', T') = ({n}, {n}), got {self_weights.shape}")
    rows = 3 if self_weights is not None else 2
    fig = Figure(figsize=(7, 2.2 * rows + 1), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, height_ratios=[1, 0.6] + ([1.6] if rows == 3 else []))
    seconds = _spectrogram(axes[0], frames, frame_seconds)
    centres = (np.arange(n) + 0.5) * position_seconds
    axes[1].bar(centres, pool_weights, width=position_seconds, color="tab:blue")
    axes[1].set(ylabel="pooling weight", ylim=(0, max(1e-6, float(np.max(pool_weights))) * 1.1))
    if rows == 3:
        span = n * position_seconds
        image = axes[2].imshow(
            self_weights, origin="upper", aspect="auto", cmap="viridis", vmin=0, extent=(0, span, span, 0)
        )
        axes[2].set(ylabel="query position (s)")
        fig.colorbar(image, ax=axes[2], label="self-attention (last layer)")
    axes[-1].set(xlabel="time (s)", xlim=(0, seconds))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_spectrogram_alignment(
    frames: np.ndarray,
    frame_seconds: float,
    weights: np.ndarray,
    position_seconds: float,
    out_tokens: Sequence[str],
    *,
    title: str | None = None,
) -> Figure:
    """Each output token's alignment weights over time, under the spectrogram.

    Args:
        frames: log-mel frames (T, n_mels).
        frame_seconds: seconds per frame.
        weights: alignment weights (To, Tk) of the To output tokens over the Tk encoder positions.
        position_seconds: seconds per encoder position.
        out_tokens: the To output tokens.
        title: the figure's title.

    Raises:
        ValueError: if `weights` is not (len(out_tokens), Tk).
    """
    if weights.ndim != 2 or weights.shape[0] != len(out_tokens):
        raise ValueError(f"weights must be (To, Tk) with To={len(out_tokens)}, got shape {weights.shape}")
    fig = Figure(figsize=(8, 2 + 0.25 * len(out_tokens) + 2), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, height_ratios=[1, max(1.0, 0.12 * len(out_tokens))])
    seconds = _spectrogram(axes[0], frames, frame_seconds)
    span = weights.shape[1] * position_seconds
    image = axes[1].imshow(
        weights,
        aspect="auto",
        cmap="Greys",
        vmin=0,
        vmax=1,
        interpolation="nearest",
        extent=(0, span, len(out_tokens) - 0.5, -0.5),
    )
    axes[1].set_yticks(range(len(out_tokens)), [display_token(t) for t in out_tokens])
    axes[1].set(ylabel="output", xlabel="time (s)", xlim=(0, max(seconds, span)))
    fig.colorbar(image, ax=axes[1], label="alignment weight")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
