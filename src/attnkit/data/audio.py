"""Reading sound files and turning them into log-mel filterbank frames.

The frames are the usual input of attention-based recognisers [Chorowski15], [Chan16]: one vector
per 25 ms window, every 10 ms, of the log energies in `n_mels` triangular filters equally spaced
on the mel scale. Computed with librosa [McFee15]: the power spectrum of Hann-windowed frames
(FFT size = window length, no centring: frame t covers samples [t * hop, t * hop + window)),
times the HTK mel filterbank (mel(f) = 2595 log10(1 + f / 700), triangles of peak 1, no area
normalisation), then the natural logarithm with a floor.

:func:`read_audio` reads any file libsndfile reads (WAV, FLAC, OGG, ...), averages the channels
and resamples to the model's rate (16 kHz by default). Before it decodes anything it checks the
file's header (:func:`check_audio`): a sample rate from :data:`MIN_SAMPLE_RATE` to
:data:`MAX_SAMPLE_RATE`, at most :data:`MAX_CHANNELS` channels and, when the caller gives one
(a task's declared ``max_seconds``), a duration (frames / sample rate) within it; so a long or
1 Hz recording is refused before it costs seconds and gigabytes. Samples that are not finite
(NaN, infinity in a float WAV) are refused after reading.

References:
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
    [Chan16] W. Chan, N. Jaitly, Q. Le, O. Vinyals. Listen, Attend and Spell. ICASSP 2016.
    arXiv:1508.01211.
    [McFee15] B. McFee et al. librosa: Audio and Music Signal Analysis in Python. SciPy 2015.
    [Young06] S. Young et al. The HTK Book (for HTK 3.4), Sec. 5.4 (filterbank analysis). 2006.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError

__all__ = [
    "FeatureConfig",
    "read_audio",
    "check_audio",
    "AudioTooLong",
    "log_mel",
    "normalise_utterance",
    "features_of_file",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "MAX_CHANNELS",
]

MIN_SAMPLE_RATE = 1000
"""Lowest sample rate (Hz) of a recording read: below it, resampling to 16 kHz would multiply the
samples by more than 16 (a 600 KB WAV at 1 Hz asks for about 19 GB)."""

MAX_SAMPLE_RATE = 192_000
"""Highest sample rate (Hz) of a recording read (studio rates; no microphone records more)."""

MAX_CHANNELS = 8
"""Most channels of a recording read (they are averaged to mono)."""


class AudioTooLong(InputError):
    """A recording longer than the task takes (from its header, before decoding)."""


@dataclass(frozen=True)
class FeatureConfig:
    """How sound becomes frames.

    Attributes:
        sample_rate: Hz; every file is resampled to it.
        n_mels: mel filters (the frame width, D).
        window_ms: analysis window, milliseconds.
        hop_ms: hop between frames, milliseconds.
        fmin, fmax: band of the filterbank, Hz; fmax 0 = Nyquist (sample_rate / 2).
    """

    sample_rate: int = 16000
    n_mels: int = 80
    window_ms: float = 25.0
    hop_ms: float = 10.0
    fmin: float = 0.0
    fmax: float = 0.0

    def check(self) -> None:
        """Raises ConfigError for sizes that give no frame or a band outside [0, Nyquist]."""
        if self.sample_rate < 1000 or self.n_mels < 1:
            raise ConfigError(
                f"features need sample_rate >= 1000 Hz and n_mels >= 1, got {self.sample_rate} and {self.n_mels}"
            )
        if self.window_samples < 2 or self.hop_samples < 1:
            raise ConfigError(
                f"window_ms={self.window_ms} and hop_ms={self.hop_ms} give "
                f"{self.window_samples} and {self.hop_samples} samples; make them longer"
            )
        top = self.fmax or self.sample_rate / 2
        if not 0 <= self.fmin < top <= self.sample_rate / 2:
            raise ConfigError(f"features need 0 <= fmin < fmax <= {self.sample_rate / 2} Hz, got {self.fmin} and {top}")

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate * self.window_ms / 1000)

    @property
    def hop_samples(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def frame_seconds(self) -> float:
        """Seconds between two frames (the hop), for time axes."""
        return self.hop_samples / self.sample_rate


def check_audio(source: Any, *, max_seconds: float | None = None, name: str | None = None) -> float:
    """Check a sound file's header (nothing is decoded): the sample rate, the channels and, with
    `max_seconds`, the duration.

    Args:
        source: a path or a binary file object (``io.BytesIO`` of an upload).
        max_seconds: the longest recording taken, seconds (None: any length).
        name: how messages name the file (default: the path).

    Returns:
        The duration, seconds (frames / sample rate).

    The header is read first (``soundfile.info``): a recording longer than `max_seconds`, or at
    a rate below :data:`MIN_SAMPLE_RATE`, is refused before anything is decoded.

    Raises:
        AudioTooLong: for a recording longer than `max_seconds`.
        attnkit.errors.InputError: for a file libsndfile cannot read, a sample rate outside
            :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE` Hz or more than :data:`MAX_CHANNELS`
            channels.
    """
    import soundfile

    shown = name or str(source)
    try:
        info = soundfile.info(source)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise InputError(
            f"{shown}: not an audio file libsndfile can read ({str(err).splitlines()[0]}); record or convert it to WAV"
        ) from None
    rate, channels, frames = int(info.samplerate), int(info.channels), int(info.frames)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InputError(
            f"{shown}: a sample rate of {rate} Hz; recordings must have {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
            "(16000 is usual): resample it"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise InputError(f"{shown}: {channels} channels; at most {MAX_CHANNELS} are read: mix it down to mono")
    seconds = frames / rate
    if max_seconds is not None and seconds > max_seconds:
        raise AudioTooLong(
            f"{shown}: {seconds:.1f} s is longer than the {max_seconds:g} s this model takes; cut the recording"
        )
    return seconds


def read_audio(path: str | Path, sample_rate: int = 16000, *, max_seconds: float | None = None) -> np.ndarray:
    """A sound file as mono float32 samples in [-1, 1] at `sample_rate` Hz, (N,); its header is
    checked first (:func:`check_audio`, with `max_seconds`).

    Raises:
        AudioTooLong: for a recording longer than `max_seconds` (None: any length).
        attnkit.errors.InputError: if the file is missing, is not audio libsndfile reads, has a
            sample rate or a number of channels out of range, holds no samples or samples that
            are not finite.
    """
    import librosa
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; give the path of a WAV recording")
    check_audio(path, max_seconds=max_seconds)
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(
            f"{path}: not an audio file libsndfile can read ({first}); record or convert it to WAV"
        ) from None
    if samples.size == 0:
        raise InputError(f"{path}: the audio file holds no samples; record something longer")
    if not np.isfinite(samples).all():
        raise InputError(f"{path}: the recording holds samples that are not finite (NaN or infinity); re-record it")
    mono = samples.mean(axis=1)
    if rate != sample_rate:
        try:
            mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)
        except librosa.util.exceptions.ParameterError as err:
            raise InputError(
                f"{path}: cannot resample from {rate} Hz ({err}); convert it to {sample_rate} Hz"
            ) from None
    return mono.astype(np.float32)


def log_mel(samples: np.ndarray, cfg: FeatureConfig = FeatureConfig(), *, floor: float = 1e-10) -> np.ndarray:
    """Log-mel filterbank frames of a signal.

    Args:
        samples: mono signal at ``cfg.sample_rate`` Hz, (N,); shorter than one window, it is
            padded with zeros to one window (one frame).
        cfg: window, hop, filters, band.
        floor: energies below it are raised to it before the log (no -inf for silence).

    Returns:
        float32 (T, n_mels) with T = 1 + (N - window) // hop: natural log of the mel energies
        (power spectrum, squared magnitude).

    Raises:
        ValueError: if `samples` is not 1-D or empty.
    """
    import librosa

    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"log_mel needs a non-empty 1-D signal, got shape {samples.shape}")
    win = cfg.window_samples
    if samples.size < win:
        samples = np.pad(samples, (0, win - samples.size))
    mel = librosa.feature.melspectrogram(
        y=samples.astype(np.float32),
        sr=cfg.sample_rate,
        n_fft=win,
        hop_length=cfg.hop_samples,
        win_length=win,
        window="hann",
        center=False,
        power=2.0,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax or None,
        htk=True,
        norm=None,
    )  # (n_mels, T)
    return np.log(np.maximum(mel, floor)).T.astype(np.float32)


def normalise_utterance(frames: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Per-utterance mean and variance normalisation: every filter's log energy minus its mean
    over the utterance, over its standard deviation (plus `eps`); frames (T, D) -> (T, D)."""
    return ((frames - frames.mean(axis=0)) / (frames.std(axis=0) + eps)).astype(np.float32)


def features_of_file(
    path: str | Path, cfg: FeatureConfig = FeatureConfig(), *, max_seconds: float | None = None
) -> np.ndarray:
    """Normalised log-mel frames (T, n_mels) of a sound file (:func:`read_audio`, :func:`log_mel`,
    :func:`normalise_utterance`); `max_seconds` bounds its duration (None: any).

    Args:
        path: the sound file.
        cfg: how sound becomes frames.
        max_seconds: the longest recording taken, checked from the header before decoding.

    Raises:
        attnkit.errors.InputError: as :func:`read_audio`.
    """
    return normalise_utterance(log_mel(read_audio(path, cfg.sample_rate, max_seconds=max_seconds), cfg))
