"""Log-mel features against the formula written out here (numpy STFT + HTK mel filterbank), and
reading sound files (resampling, one-line errors)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from attnkit.data.audio import FeatureConfig, features_of_file, log_mel, normalise_utterance, read_audio
from attnkit.errors import ConfigError, InputError


def _mel(f):
    """The HTK mel scale, mel(f) = 2595 log10(1 + f / 700), f in Hz."""
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _hz(m):
    """The inverse of :func:`_mel`."""
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def reference_log_mel(x, sr, n_mels, win_ms, hop_ms, fmin=0.0, fmax=None):
    """Plain formula: Hann-windowed frames (periodic Hann, no centring), |FFT|^2 over N = window,
    triangular filters equally spaced on the HTK mel scale mel(f) = 2595 log10(1 + f / 700)."""
    n = round(sr * win_ms / 1000)
    hop = round(sr * hop_ms / 1000)
    fmax = sr / 2 if fmax is None else fmax
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    frames = np.stack([x[t * hop : t * hop + n] for t in range(1 + (len(x) - n) // hop)])
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (T, n // 2 + 1)
    edges = _hz(np.linspace(_mel(fmin), _mel(fmax), n_mels + 2))
    freqs = np.arange(n // 2 + 1) * sr / n
    bank = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        for k, f in enumerate(freqs):
            bank[i, k] = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
    return np.log(np.maximum(power @ bank.T, 1e-10))


@pytest.mark.parametrize("sr, n_mels, fmin, fmax", [(16000, 80, 0.0, 0.0), (8000, 40, 100.0, 3800.0)])
def test_log_mel_matches_the_formula(sr, n_mels, fmin, fmax):
    rng = np.random.default_rng(0)
    t = np.arange(int(0.37 * sr)) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(t.size)).astype(np.float32)
    cfg = FeatureConfig(sample_rate=sr, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ours = log_mel(x, cfg)
    ref = reference_log_mel(x.astype(np.float64), sr, n_mels, 25.0, 10.0, fmin, fmax or None)
    assert ours.shape == ref.shape == (1 + (x.size - cfg.window_samples) // cfg.hop_samples, n_mels)
    assert ours.shape[0] == 35  # 0.37 s: 25 ms windows every 10 ms
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)


def test_a_tone_lights_the_filter_that_covers_its_frequency():
    sr = 16000
    x = np.sin(2 * np.pi * 1000 * np.arange(sr // 4) / sr).astype(np.float32)
    peak = log_mel(x).mean(axis=0).argmax()
    centres = 700.0 * (10 ** (np.linspace(0, _mel(8000), 82)[1:-1] / 2595.0) - 1.0)
    assert abs(centres[peak] - 1000) < (centres[peak + 1] - centres[peak])


def test_short_signal_is_one_frame_and_normalisation_is_per_filter():
    assert log_mel(np.ones(100, dtype=np.float32)).shape == (1, 80)
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(50, 8)).astype(np.float32)
    z = normalise_utterance(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-3)


def test_read_audio_resamples_and_mixes_down(tmp_path):
    sr = 22050
    t = np.arange(sr) / sr
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 300 * t)], axis=1) * 0.5
    soundfile.write(tmp_path / "a.wav", stereo, sr, subtype="PCM_16")
    x = read_audio(tmp_path / "a.wav", 16000)
    assert x.dtype == np.float32 and abs(x.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(spectrum.argmax() * 16000 / x.size - 300) < 2
    assert features_of_file(tmp_path / "a.wav").shape == (98, 80)


def test_non_audio_empty_and_missing_files_are_one_line_errors(tmp_path):
    (tmp_path / "notes.wav").write_text("this is not sound\n")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0), 16000)
    for name, pattern in (
        ("notes.wav", "not an audio file"),
        ("empty.wav", "holds no samples"),
        ("absent.wav", "no such file"),
    ):
        with pytest.raises(InputError, match=pattern) as err:
            read_audio(tmp_path / name)
        assert "\n" not in str(err.value)


def test_feature_config_checks():
    with pytest.raises(ConfigError, match="fmax"):
        FeatureConfig(sample_rate=8000, fmax=5000).check()
    FeatureConfig().check()
