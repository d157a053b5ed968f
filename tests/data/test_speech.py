"""The espeak-ng speech cache: synthesis, manifest, identical rebuild, noise, voice splits."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import soundfile

from attnkit.data import speech
from attnkit.data.speech import EspeakMissing, SpeechCache, SynthesisError, Utterance, add_noise, split_voices
from attnkit.errors import ConfigError

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


@needs_espeak
def test_cache_writes_once_with_manifest_and_rebuilds_identically(tmp_path):
    utts = [
        Utterance("seven", "en+m3"),
        Utterance("zwei", "de+f1", speed=140, pitch=30),
        Utterance("seven", "en+m3", snr_db=10.0, noise_seed=3),
    ]
    cache = SpeechCache(tmp_path / "cache")
    paths = cache.ensure(utts)
    assert len(set(paths)) == 3 and all(p.exists() for p in paths)
    entries = json.loads(cache.manifest_path.read_text())["entries"]
    by_file = {e["file"]: e for e in entries}
    for utt, path in zip(utts, paths):
        e = by_file[path.name]
        assert (e["text"], e["voice"], e["speed"], e["pitch"], e["snr_db"]) == (
            utt.text,
            utt.voice,
            utt.speed,
            utt.pitch,
            utt.snr_db,
        )
        assert e["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    info = soundfile.info(paths[0])
    assert info.channels == 1 and info.subtype == "PCM_16" and info.frames > 1000
    # written once: a second ensure does not touch the files
    mtimes = [p.stat().st_mtime_ns for p in paths]
    assert cache.ensure(utts) == paths and [p.stat().st_mtime_ns for p in paths] == mtimes
    assert cache.verify() == []
    # the rebuild from the manifest alone gives the same bytes
    assert cache.rebuild(tmp_path / "again") == []
    for p in paths:
        assert (tmp_path / "again" / p.name).read_bytes() == p.read_bytes()
    # no temporary files left behind
    assert sorted(f.name for f in (tmp_path / "cache").iterdir()) == sorted([*(p.name for p in paths), "manifest.json"])
    # a damaged file is found by verify
    paths[1].write_bytes(paths[1].read_bytes()[:-2] + b"\0\1")
    assert cache.verify() == [paths[1].name]


@needs_espeak
def test_noise_at_the_chosen_snr_is_seeded(tmp_path):
    clean, noisy, again, other = SpeechCache(tmp_path).ensure(
        [
            Utterance("one", "en"),
            Utterance("one", "en", snr_db=5.0, noise_seed=1),
            Utterance("one", "en", snr_db=5.0, noise_seed=1),
            Utterance("one", "en", snr_db=5.0, noise_seed=2),
        ]
    )
    assert noisy == again and noisy != other
    x = soundfile.read(clean, dtype="int16")[0].astype(float)
    y = soundfile.read(noisy, dtype="int16")[0].astype(float)
    z = soundfile.read(other, dtype="int16")[0].astype(float)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
    assert abs(snr - 5.0) < 0.3
    assert not np.array_equal(y, z)


def test_add_noise_power_matches_the_snr_formula():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(200_000) * 3000).astype(np.int16)
    y = add_noise(x, 20.0, seed=7)
    noise = y.astype(float) - x
    assert abs(10 * np.log10(np.mean(x.astype(float) ** 2) / np.mean(noise**2)) - 20.0) < 0.05
    np.testing.assert_array_equal(y, add_noise(x, 20.0, seed=7))


@needs_espeak
def test_unknown_voice_language_or_variant_is_one_clear_error(tmp_path):
    with pytest.raises(SynthesisError, match="no language 'xx'"):
        SpeechCache(tmp_path).ensure([Utterance("hi", "xx+m3")])
    with pytest.raises(SynthesisError, match="no voice variant 'zz'.*m3"):  # espeak-ng itself ignores it
        SpeechCache(tmp_path).ensure([Utterance("hi", "en+zz")])
    with pytest.raises(SynthesisError, match="speed"):
        SpeechCache(tmp_path).ensure([Utterance("hi", "en", speed=10)])
    assert not (tmp_path / "manifest.json").exists()


def test_missing_espeak_names_the_apt_package(monkeypatch, tmp_path):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(EspeakMissing, match=r"^espeak-ng is not installed.*`apt-get install espeak-ng`$"):
        SpeechCache(tmp_path).ensure([Utterance("hi", "en")])


def test_split_voices_holds_out_whole_voices():
    voices = [f"en+m{i}" for i in range(1, 8)] + ["en+f1", "en+f2"]
    s = split_voices(voices, 2, 2, seed=5)
    assert len(s["dev"]) == 2 and len(s["test"]) == 2 and len(s["train"]) == 5
    assert set(s["train"]) | set(s["dev"]) | set(s["test"]) == set(voices)
    assert not (set(s["train"]) & set(s["test"])) and not (set(s["dev"]) & set(s["test"]))
    assert split_voices(voices, 2, 2, seed=5) == s and split_voices(voices, 2, 2, seed=6) != s
    with pytest.raises(ConfigError, match="at least one to train on"):
        split_voices(["en", "de"], 1, 1, seed=0)
