"""Whisper's log-mel input [Radford22] Sec. 2.2, as Hugging Face's ``WhisperFeatureExtractor``
computes it, with librosa [McFee15].

The signal (16 kHz) is cut or padded with zeros to the model's window (30 s); its short-time
Fourier transform (``n_fft`` = 400 samples, Hann window, hop 160 samples = 10 ms, centred with
reflect padding) gives a power spectrum, whose last frame is dropped (3,000 frames for 30 s).
Slaney-style mel filters (``librosa.filters.mel(htk=False, norm="slaney")``, 0-8 kHz) give the
mel energies, then log10 (floor 1e-10), clamped from below at the maximum minus 8, and mapped
by (x + 4) / 4.

References:
    [Radford22] A. Radford et al. Robust Speech Recognition via Large-Scale Weak Supervision.
    ICML 2023. arXiv:2212.04356.
    [McFee15] B. McFee et al. librosa: Audio and Music Signal Analysis in Python. SciPy 2015.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["WhisperFeatures"]


@dataclass(frozen=True)
class WhisperFeatures:
    """The settings of Whisper's log-mel frames (``preprocessor_config.json``'s names).

    Attributes:
        feature_size: mel filters (80, or 128 for large-v3).
        sampling_rate: Hz of the signal the frames are computed from.
        hop_length: samples between frames.
        n_fft: FFT size and window length, samples.
        chunk_length: seconds of the window every input is cut or padded to.
    """

    feature_size: int = 80
    sampling_rate: int = 16000
    hop_length: int = 160
    n_fft: int = 400
    chunk_length: int = 30

    @classmethod
    def from_preprocessor(cls, config: Mapping[str, Any]) -> "WhisperFeatures":
        """The settings of a ``preprocessor_config.json`` dict (missing keys: Whisper's defaults)."""
        names = ("feature_size", "sampling_rate", "hop_length", "n_fft", "chunk_length")
        return cls(**{name: int(config[name]) for name in names if name in config})

    @property
    def n_samples(self) -> int:
        """Samples in the window."""
        return self.chunk_length * self.sampling_rate

    @property
    def n_frames(self) -> int:
        """Frames of the window, T = n_samples / hop_length."""
        return self.n_samples // self.hop_length

    @property
    def frame_seconds(self) -> float:
        """Seconds between two frames (the hop)."""
        return self.hop_length / self.sampling_rate

    def log_mel(self, samples: np.ndarray) -> np.ndarray:
        """Log-mel frames of a signal, as ``WhisperFeatureExtractor`` gives them.

        Args:
            samples: mono signal at ``sampling_rate`` Hz, (N,); cut to, or padded with zeros to,
                ``n_samples``.

        Returns:
            float32 (T, feature_size), T = ``n_frames``: (max(log10 mel, max - 8) + 4) / 4.

        Raises:
            ValueError: if `samples` is not 1-D.

        Differences from Hugging Face's extractor: the frames are (T, mels), batch-first
        attnkit's layout, where its ``input_features`` are (mels, T); no dither.
        """
        import librosa

        if samples.ndim != 1:
            raise ValueError(f"log_mel needs a 1-D signal, got shape {samples.shape}")
        signal = np.zeros(self.n_samples, dtype=np.float64)
        n = min(samples.size, self.n_samples)
        signal[:n] = samples[:n]
        stft = librosa.stft(
            signal, n_fft=self.n_fft, hop_length=self.hop_length, window="hann", center=True, pad_mode="reflect"
        )
        power = np.abs(stft[:, :-1]) ** 2  # (n_fft / 2 + 1, T): the last frame is dropped
        filters = librosa.filters.mel(
            sr=self.sampling_rate,
            n_fft=self.n_fft,
            n_mels=self.feature_size,
            fmin=0.0,
            fmax=8000.0,
            htk=False,
            norm="slaney",
            dtype=np.float64,
        )  # (mels, n_fft / 2 + 1)
        logs = np.log10(np.maximum(filters @ power, 1e-10))
        logs = np.maximum(logs, logs.max() - 8.0)
        return ((logs + 4.0) / 4.0).T.astype(np.float32)
