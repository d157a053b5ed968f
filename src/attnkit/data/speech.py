"""Speech synthesised by Debian's ``espeak-ng`` [Dunn] and cached once, with a manifest.

An :class:`Utterance` is a text spoken by one voice at one speed and pitch, optionally with
white background noise at a chosen signal-to-noise ratio. :class:`SpeechCache` writes the WAV
file of each utterance once (``espeak-ng -w`` to a temporary file, then noise, then an atomic
rename) into its folder, named by the sha256 of the utterance's fields, and keeps
``manifest.json``: one entry per file with the text, voice, speed, pitch, noise settings and the
sha256 of the file's bytes. :meth:`SpeechCache.rebuild` synthesises every entry of a manifest
again into another folder and lists the files whose bytes differ (none, for espeak-ng's
deterministic voices).

Voices are ``LANG`` or ``LANG+VARIANT``: a language espeak-ng speaks (``espeak-ng --voices``) and
one of its variants (``espeak-ng --voices=variant``: ``m1`` ... ``m7``, ``f1`` ... ``f5``,
``croak``, ``klatt``, ...). espeak-ng ignores an unknown variant silently, so the names are
checked here. :func:`split_voices` holds out whole voices, so a test set measures how a model
generalises to speakers it never heard.

Units: speed in words per minute (espeak-ng's ``-s``, 80-450), pitch 0-99 (``-p``, 50 is the
voice's own), SNR in dB (10 log10 of signal power over noise power).

References:
    [Dunn] R. Dunn et al. eSpeak NG text-to-speech, https://github.com/espeak-ng/espeak-ng
    (Debian package espeak-ng).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import ConfigError, InputError
from ..io import atomic_path, atomic_write_text
from ..progress import progress

__all__ = [
    "ESPEAK",
    "EspeakMissing",
    "SynthesisError",
    "Utterance",
    "SpeechCache",
    "espeak_path",
    "espeak_languages",
    "espeak_variants",
    "check_voice",
    "split_voices",
    "add_noise",
]

ESPEAK = "espeak-ng"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
SPEED_RANGE = (80, 450)  # words per minute, espeak-ng's -s
PITCH_RANGE = (0, 99)


class EspeakMissing(ConfigError):
    """espeak-ng is not installed; the message says how to install it."""


class SynthesisError(InputError):
    """espeak-ng could not speak an utterance (unknown voice, out-of-range speed, a failed run)."""


def espeak_path() -> str:
    """The espeak-ng executable.

    Raises:
        EspeakMissing: if ``espeak-ng`` is not on PATH (install: ``apt-get install espeak-ng``).
    """
    path = shutil.which(ESPEAK)
    if path is None:
        raise EspeakMissing(
            "espeak-ng is not installed (it speaks the audio of the speech tasks); "
            "install it with `apt-get install espeak-ng`"
        )
    return path


def _voice_table(*args: str) -> list[list[str]]:
    out = subprocess.run([espeak_path(), *args], capture_output=True, text=True, check=True, timeout=60)
    return [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]


@functools.lru_cache(maxsize=1)
def espeak_languages() -> frozenset[str]:
    """The language names espeak-ng speaks: the Language column of ``espeak-ng --voices``
    (``en-us``, ``de``, ...) and its Other Languages (``en``).

    Raises:
        EspeakMissing: if espeak-ng is not installed.
    """
    names = set()
    for row in _voice_table("--voices"):
        names.update([row[1]] if len(row) > 1 else [])
        names.update(cell[1:] for cell in row[5:] if cell.startswith("("))
    return frozenset(names)


@functools.lru_cache(maxsize=1)
def espeak_variants() -> frozenset[str]:
    """The voice variants (``m3``, ``f1``, ``klatt``, ...): the file names of
    ``espeak-ng --voices=variant`` without their ``!v/`` folder.

    Raises:
        EspeakMissing: if espeak-ng is not installed.
    """
    return frozenset(
        cell.split("/", 1)[1] for row in _voice_table("--voices=variant") for cell in row if cell.startswith("!v/")
    )


def check_voice(voice: str) -> str:
    """Return `voice` (``LANG`` or ``LANG+VARIANT``) if espeak-ng knows both parts.

    Raises:
        SynthesisError: for an unknown language or variant (the message lists a few valid ones).
        EspeakMissing: if espeak-ng is not installed.
    """
    lang, _, variant = voice.partition("+")
    if lang not in espeak_languages():
        raise SynthesisError(
            f"espeak-ng has no language {lang!r} (voice {voice!r}); choose one of "
            f"`espeak-ng --voices`, e.g. en, de, fr, es, it, pt, nl, ru"
        )
    if variant and variant not in espeak_variants():
        some = ", ".join(sorted(v for v in espeak_variants() if len(v) == 2))
        raise SynthesisError(
            f"espeak-ng has no voice variant {variant!r} (voice {voice!r}); choose one of "
            f"`espeak-ng --voices=variant`, e.g. {some}"
        )
    return voice


@dataclass(frozen=True)
class Utterance:
    """What to speak and how.

    Attributes:
        text: the words, in the voice's language.
        voice: ``LANG`` or ``LANG+VARIANT``, e.g. ``"en+f3"``.
        speed: words per minute, in [80, 450].
        pitch: 0-99 (50 = the voice's own).
        snr_db: background white noise at this signal-to-noise ratio in dB; None = clean.
        noise_seed: seed of the noise (the same seed gives the same noise).
    """

    text: str
    voice: str
    speed: int = 175
    pitch: int = 50
    snr_db: float | None = None
    noise_seed: int = 0

    def check(self) -> None:
        """Raises SynthesisError for an empty text, an unknown voice or a speed / pitch out of range."""
        if not self.text.strip():
            raise SynthesisError("an utterance needs a non-empty text")
        if not SPEED_RANGE[0] <= self.speed <= SPEED_RANGE[1]:
            raise SynthesisError(f"speed {self.speed} words/minute is outside espeak-ng's {SPEED_RANGE}")
        if not PITCH_RANGE[0] <= self.pitch <= PITCH_RANGE[1]:
            raise SynthesisError(f"pitch {self.pitch} is outside espeak-ng's {PITCH_RANGE}")
        check_voice(self.voice)

    @property
    def file_name(self) -> str:
        """``<first 20 hex digits of the sha256 of the fields>.wav``: one name per utterance."""
        key = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20] + ".wav"


def add_noise(samples: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """`samples` (N,) int16 plus white Gaussian noise at `snr_db` dB below the signal's mean power,
    rounded and clipped back to int16. The same seed gives the same noise."""
    x = samples.astype(np.float64)
    power = float(np.mean(x**2)) if x.size else 0.0
    noise = np.random.default_rng(seed).standard_normal(x.shape) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _synthesise(utt: Utterance, path: Path) -> None:
    """Speak `utt` into the WAV file `path` (16-bit PCM, espeak-ng's 22,050 Hz), atomically."""
    import soundfile

    exe = espeak_path()
    with tempfile.TemporaryDirectory(prefix="attnkit-espeak-") as tmp:
        raw = Path(tmp) / "raw.wav"
        cmd = [exe, "-v", utt.voice, "-s", str(utt.speed), "-p", str(utt.pitch), "-w", str(raw), "--stdin"]
        run = subprocess.run(cmd, input=utt.text.encode("utf-8"), capture_output=True, timeout=120)
        if run.returncode != 0 or not raw.exists():
            why = run.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SynthesisError(
                f"espeak-ng failed on {utt.text!r} with voice {utt.voice}: "
                f"{why[-1] if why else f'exit status {run.returncode}'}"
            )
        samples, rate = soundfile.read(raw, dtype="int16")
    if samples.ndim > 1:
        samples = samples[:, 0]
    if utt.snr_db is not None:
        samples = add_noise(samples, utt.snr_db, utt.noise_seed)
    with atomic_path(path) as out:
        soundfile.write(out, samples, rate, subtype="PCM_16", format="WAV")


class SpeechCache:
    """A folder of synthesised WAV files and their ``manifest.json``.

    Args:
        root: the cache folder (created when the first file is written).

    The manifest maps each file name to its utterance's fields and the sha256 of its bytes; it is
    rewritten atomically after each :meth:`ensure` that added files.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, dict]:
        """File name -> entry (``text, voice, speed, pitch, snr_db, noise_seed, sha256``); {} if none.

        Raises:
            attnkit.errors.ConfigError: for a manifest that is not attnkit's.
        """
        if not self.manifest_path.exists():
            return {}
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if data.get("version") != MANIFEST_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            return {e["file"]: e for e in data["entries"]}
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(
                f"{self.manifest_path}: not a speech-cache manifest ({err}); delete the folder to rebuild it"
            ) from None

    def _write_manifest(self, entries: dict[str, dict]) -> None:
        rows = [entries[name] for name in sorted(entries)]
        atomic_write_text(
            self.manifest_path, json.dumps({"version": MANIFEST_VERSION, "entries": rows}, indent=1, ensure_ascii=False)
        )

    def path(self, utt: Utterance) -> Path:
        """Where `utt`'s WAV file lives in this cache (whether or not it exists yet)."""
        return self.root / utt.file_name

    def ensure(self, utterances: Iterable[Utterance]) -> list[Path]:
        """The WAV file of every utterance, synthesising the ones not cached yet.

        Returns:
            One path per utterance, in order.

        Raises:
            EspeakMissing: if a file is missing and espeak-ng is not installed.
            SynthesisError: for an utterance espeak-ng cannot speak (checked before any synthesis).
        """
        utterances = list(utterances)
        entries = self.manifest()
        todo = [u for u in dict.fromkeys(utterances) if u.file_name not in entries or not self.path(u).exists()]
        for utt in todo:
            utt.check()
        for utt in progress(todo, desc="synthesise speech", unit="file"):
            _synthesise(utt, self.path(utt))
            entries[utt.file_name] = {"file": utt.file_name, **asdict(utt), "sha256": _sha256(self.path(utt))}
        if todo:
            self._write_manifest(entries)
        return [self.path(u) for u in utterances]

    def verify(self) -> list[str]:
        """File names of the manifest whose file is missing or whose bytes differ from its sha256."""
        return [
            name
            for name, e in self.manifest().items()
            if not (self.root / name).exists() or _sha256(self.root / name) != e["sha256"]
        ]

    def rebuild(self, into: str | Path) -> list[str]:
        """Synthesise every entry of this cache's manifest again into the folder `into`.

        Returns:
            The file names whose new bytes differ from the manifest's sha256 (empty: identical).

        Raises:
            EspeakMissing: if espeak-ng is not installed.
        """
        other = SpeechCache(into)
        fields = ("text", "voice", "speed", "pitch", "snr_db", "noise_seed")
        utterances = [Utterance(**{k: e[k] for k in fields}) for e in self.manifest().values()]
        other.ensure(utterances)
        return [u.file_name for u in utterances if _sha256(other.path(u)) != self.manifest()[u.file_name]["sha256"]]


def split_voices(voices: Sequence[str], n_dev: int, n_test: int, seed: int) -> dict[str, list[str]]:
    """Hold out whole voices: a seeded shuffle of `voices` into train, dev and test.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``; dev and test have `n_dev` and `n_test`
        voices, train the rest (at least one), each list in the order of `voices`.

    Raises:
        attnkit.errors.ConfigError: for repeated voices, negative counts, or no voice left to train on.
    """
    if len(set(voices)) != len(voices):
        raise ConfigError(f"data.voices repeats a voice: {list(voices)}")
    if n_dev < 0 or n_test < 0 or n_dev + n_test >= len(voices):
        raise ConfigError(
            f"{len(voices)} voices cannot give {n_dev} dev and {n_test} test voices and "
            "at least one to train on; add voices or hold out fewer"
        )
    order = list(voices)
    random.Random(seed).shuffle(order)
    held = {"dev": set(order[:n_dev]), "test": set(order[n_dev : n_dev + n_test])}
    return {
        "train": [v for v in voices if v not in held["dev"] | held["test"]],
        "dev": [v for v in voices if v in held["dev"]],
        "test": [v for v in voices if v in held["test"]],
    }
