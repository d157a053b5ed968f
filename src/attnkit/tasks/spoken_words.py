"""Spoken-word classification: the ten digits and a few command words, spoken by espeak-ng in
many voices, classified from their log-mel frames; whole voices are held out for dev and test.

Data. Every word of ``data.words`` is spoken by every voice of ``data.voices`` at every speed of
``data.speeds`` and pitch of ``data.pitches`` (optionally with noise at ``data.snr_db``)
(:class:`attnkit.data.speech.SpeechCache`, in ``data.cache``: ``$ATTNKIT_SPEECH_CACHE`` or
``~/.cache/attnkit/speech`` when empty). ``data.dev_voices`` and ``data.test_voices`` voices are
drawn out (:func:`attnkit.data.speech.split_voices`), so the test accuracy is the accuracy on
speakers the model never heard.

Run folder. ``dataset.json`` holds the config, the class names and, per split, every
utterance's fields and the sha256 of its WAV file; loading a split re-reads the cache (speaking
missing files again) and fails with a one-line error if a file's bytes differ from the run's.

Input to the model: normalised log-mel frames (:func:`attnkit.data.audio.features_of_file`),
(B, T, n_mels) float32, zero-padded, with their lengths.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data.audio import FeatureConfig, features_of_file
from ..data.speech import EspeakMissing, SpeechCache, SynthesisError, Utterance, split_voices
from ..errors import ConfigError, InputError
from ..evaluation import classification_metrics
from ..io import atomic_write_text
from ..models.frontends import MIN_FRAMES, ConvSubsampling
from ..models.speech import SpeechSpec
from ..predictions import SPOKEN_WORD
from ..schema import check_positive
from .base import LossContext, PrimaryMetric
from .classification import ClassLabel, classification_report

__all__ = [
    "SpokenWordsConfig",
    "SpokenExample",
    "SpeechBatch",
    "SpokenWordPrediction",
    "SpokenWordsTask",
    "speech_cache_dir",
    "pad_frames",
    "check_speech",
    "DIGITS",
    "COMMANDS",
    "MAX_SECONDS",
]

MAX_SECONDS = 30.0
"""Longest recording ``predict`` takes, seconds (a spoken word lasts about one): checked from the
file's header before decoding. The encoder's sinusoidal table (4096 positions of 40 ms) would
place 163 s, but its self-attention grows with the square of the length."""

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "stop", "go")
VOICES = tuple(f"en+m{i}" for i in range(1, 8)) + tuple(f"en+f{i}" for i in range(1, 6))
CACHE_ENV = "ATTNKIT_SPEECH_CACHE"


def speech_cache_dir(given: str = "") -> Path:
    """`given`, else ``$ATTNKIT_SPEECH_CACHE``, else ``~/.cache/attnkit/speech``."""
    if given:
        return Path(given).expanduser()
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "attnkit" / "speech")


def check_speech(features: FeatureConfig, utterances: Iterable[Utterance]) -> None:
    """Check a speech config's features and every utterance it would speak (text, speed, pitch;
    the voices too where espeak-ng is installed, else when the data is built).

    Raises:
        attnkit.errors.ConfigError: ``data: `` and what is wrong, on one line.
    """
    features.check()
    try:
        for utt in utterances:
            utt.check()
    except SynthesisError as err:
        raise ConfigError(f"data: {err}") from None
    except EspeakMissing:  # the voices are checked when the data is built, where espeak-ng is needed
        pass


@dataclass(frozen=True)
class SpokenWordsConfig:
    """``data.task: spoken-words``.

    Attributes:
        words: the classes, each spoken as it is written.
        voices: espeak-ng voices (``LANG+VARIANT``), one speaker each.
        speeds: words per minute; pitches: 0-99. Every voice speaks every word at each pair.
        snr_db: white noise at this SNR in dB; 0 = clean.
        dev_voices, test_voices: voices held out for dev and test.
        cache: the speech cache folder ("" = $ATTNKIT_SPEECH_CACHE or ~/.cache/attnkit/speech).
        sample_rate, n_mels: features (25 ms windows, 10 ms hop).
        seed: seed of the voice split and the noise.
    """

    task: str = "spoken-words"
    words: tuple[str, ...] = DIGITS + COMMANDS
    voices: tuple[str, ...] = VOICES
    speeds: tuple[int, ...] = (140, 175, 210)
    pitches: tuple[int, ...] = (35, 50, 65)
    snr_db: float = 0.0
    dev_voices: int = 2
    test_voices: int = 2
    cache: str = ""
    sample_rate: int = 16000
    n_mels: int = 80
    seed: int = 1234

    def check(self) -> None:
        if len(set(self.words)) < 2 or len(set(self.words)) != len(self.words):
            raise ConfigError(f"data.words must name at least two different words, got {list(self.words)}")
        if not self.speeds or not self.pitches:
            raise ConfigError("data.speeds and data.pitches must each hold at least one value")
        check_positive(self, "dev_voices", "test_voices", section="data")
        split_voices(self.voices, self.dev_voices, self.test_voices, self.seed)
        check_speech(self.features, [u for u, _ in self.utterances(self.voices)])

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(sample_rate=self.sample_rate, n_mels=self.n_mels)

    def utterances(self, voices: Sequence[str]) -> list[tuple[Utterance, int]]:
        """(utterance, class index) for every voice of `voices`, word, speed and pitch."""
        out: list[tuple[Utterance, int]] = []
        for voice in voices:
            for label, word in enumerate(self.words):
                for speed in self.speeds:
                    for pitch in self.pitches:
                        # clean speech keeps Utterance's defaults (no noise, seed 0)
                        snr, seed = (float(self.snr_db), self.seed + len(out)) if self.snr_db else (None, 0)
                        out.append((Utterance(word, voice, speed, pitch, snr_db=snr, noise_seed=seed), label))
        return out


@dataclass(frozen=True)
class SpokenExample:
    """One utterance: its frames (T, n_mels) float32, its class, word and voice."""

    frames: Tensor
    label: int
    text: str
    voice: str


class SpeechBatch(NamedTuple):
    frames: Tensor  # (B, T, n_mels) float32, zero after each row's length
    lengths: Tensor  # (B,) frames
    labels: Tensor  # (B,) class indices


@dataclass
class SpokenWordPrediction:
    """The predicted word of one recording, with the attention over its frames.

    Attributes:
        output: the predicted word.
        probability: its probability, in [0, 1]; probabilities: every class's.
        frames: the normalised log-mel frames the model read, (T, n_mels).
        frame_seconds: seconds between two frames (the hop).
        position_seconds: seconds between two encoder positions (4 frames).
        pool_weights: attention pooling weight of each encoder position, (T',), sums to 1.
        self_weights: the last layer's self-attention, mean of its heads, (T', T').
    """

    kind: ClassVar[str] = SPOKEN_WORD

    output: str
    probability: float
    probabilities: list[float]
    frames: np.ndarray
    frame_seconds: float
    position_seconds: float
    pool_weights: np.ndarray
    self_weights: np.ndarray | None


def pad_frames(frames: Sequence[Tensor], min_len: int = MIN_FRAMES) -> tuple[Tensor, Tensor]:
    """Zero-pad (T_b, D) frames to (B, max(T_b, min_len), D); return them and the lengths (B,),
    each raised to `min_len` (short rows are padded with zero frames, which count as real)."""
    lengths = torch.tensor([max(len(f), min_len) for f in frames], dtype=torch.long)
    out = torch.zeros(len(frames), int(lengths.max()), frames[0].shape[1])
    for b, f in enumerate(frames):
        out[b, : len(f)] = f
    return out, lengths


def _file_record(utt: Utterance, label: int, path: Path, sha: str) -> dict:
    return {**asdict(utt), "label": label, "file": path.name, "sha256": sha}


@dataclass
class SpokenWordsTask:
    """Spoken-word classification as a task plug-in; model family ``speech-encoder``. Primary
    metric: accuracy on held-out voices (macro-F1 breaks ties); evaluation also gives per-class
    and per-voice accuracy."""

    config: Any  # a SpokenWordsConfig; a subclass reads its own (AudioLabelsTask)

    name = "spoken-words"
    config_class = SpokenWordsConfig
    default_family = "speech-encoder"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "utterances"
    spec_class = SpeechSpec

    @property
    def capabilities(self) -> TaskCapabilities:
        """A WAV file in, one of the classes out (the words; a speaker-id run's voices)."""
        return TaskCapabilities(InputKind.AUDIO, classes=tuple(self.classes), max_seconds=MAX_SECONDS)

    @property
    def classes(self) -> list[str]:
        return list(self.config.words)

    @property
    def spec(self) -> SpeechSpec:
        return SpeechSpec(self.config.n_mels, len(self.classes))

    # --- data and the run folder -------------------------------------------------------------
    @classmethod
    def _held_out(cls, cfg: Any) -> tuple[str, dict[str, list[str]]]:
        """What the splits are drawn by (``"voices"``; the key of ``dataset.json`` that records
        them) and each split's share: ``{"train": [...], "dev": [...], "test": [...]}``."""
        return "voices", split_voices(cfg.voices, cfg.dev_voices, cfg.test_voices, cfg.seed)

    @classmethod
    def build(cls, cfg: Any, run_dir: str | Path) -> tuple["SpokenWordsTask", dict[str, list]]:
        """Speak (or find in the cache) every utterance, split by voice (:meth:`_held_out`), write
        ``dataset.json``.

        Raises:
            attnkit.errors.ConfigError: if espeak-ng is missing or a voice is unknown.
        """
        cache = SpeechCache(speech_cache_dir(cfg.cache))
        task = cls(cfg)
        key, held = cls._held_out(cfg)
        records, splits = {}, {}
        for split, names in held.items():
            pairs = cfg.utterances(names)
            try:
                paths = cache.ensure(u for u, _ in pairs)
            except SynthesisError as err:
                raise ConfigError(f"data: {err}") from None
            manifest = cache.manifest()
            records[split] = [_file_record(u, y, p, manifest[p.name]["sha256"]) for (u, y), p in zip(pairs, paths)]
            splits[split] = [
                SpokenExample(torch.from_numpy(features_of_file(p, cfg.features)), y, u.text, u.voice)
                for (u, y), p in zip(pairs, paths)
            ]
        info = {"config": asdict(cfg), "classes": task.classes, key: held, "splits": records}
        atomic_write_text(Path(run_dir) / "dataset.json", json.dumps(info, indent=1, ensure_ascii=False))
        return task, splits

    @classmethod
    def load(cls, cfg: SpokenWordsConfig, run_dir: str | Path) -> "SpokenWordsTask":
        return cls(cfg)

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[SpokenExample]:
        """The examples of a saved split, re-read from the speech cache (missing files are
        spoken again) and checked against the run's sha256 sums.

        Raises:
            attnkit.errors.ConfigError: if a file differs from the one the run was trained on.
        """
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        saved: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in info["config"].items()}
        cfg = cls.config_class(**saved)
        cache = SpeechCache(speech_cache_dir(cfg.cache))
        fields = ("text", "voice", "speed", "pitch", "snr_db", "noise_seed")
        rows = info["splits"][split]
        paths = cache.ensure(Utterance(**{k: r[k] for k in fields}) for r in rows)
        for r, p in zip(rows, paths):
            if hashlib.sha256(p.read_bytes()).hexdigest() != r["sha256"]:
                raise ConfigError(
                    f"{p}: differs from the recording this run was trained on (another espeak-ng "
                    "version?); retrain, or point data.cache at the run's cache"
                )
        return [
            SpokenExample(torch.from_numpy(features_of_file(p, cfg.features)), r["label"], r["text"], r["voice"])
            for r, p in zip(rows, paths)
        ]

    # --- training ------------------------------------------------------------------------------
    @staticmethod
    def encode(examples: Sequence[SpokenExample]) -> list[SpokenExample]:
        return list(examples)

    @staticmethod
    def lengths(item: SpokenExample) -> tuple[int, int]:
        return len(item.frames), 1

    @staticmethod
    def loss_weight(item: SpokenExample) -> int:
        return 1

    @staticmethod
    def collate(items: Sequence[SpokenExample]) -> SpeechBatch:
        frames, lengths = pad_frames([it.frames for it in items])
        return SpeechBatch(frames, lengths, torch.tensor([it.label for it in items], dtype=torch.long))

    @staticmethod
    def loss(model: nn.Module, batch: SpeechBatch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy of the labels (label smoothing from the train config)."""
        return F.cross_entropy(
            model(batch.frames, batch.lengths).logits.float(),
            batch.labels,
            reduction="sum",
            label_smoothing=ctx.train.label_smoothing,
        )

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, examples: Sequence[SpokenExample], *, batch_size: int = 256, decode: Any = None
    ) -> tuple[dict[str, Any], list[ClassLabel]]:
        """Accuracy, macro-F1, per-class accuracy, the confusion matrix and accuracy per voice."""
        device = next(model.parameters()).device
        predicted: list[int] = []
        confidence: list[float] = []
        for start in range(0, len(examples), batch_size):
            batch = self.collate(examples[start : start + batch_size])
            probs = torch.softmax(model(batch.frames.to(device), batch.lengths.to(device)).logits.float(), -1)
            top = probs.max(-1)
            predicted += top.indices.tolist()
            confidence += top.values.tolist()
        metrics = classification_metrics(predicted, [e.label for e in examples], len(self.classes))
        metrics["classes"] = self.classes
        by_voice: dict[str, list[bool]] = defaultdict(list)
        for p, e in zip(predicted, examples):
            by_voice[e.voice].append(p == e.label)
        metrics["by_voice"] = {v: sum(hits) / len(hits) for v, hits in sorted(by_voice.items())}
        return metrics, [ClassLabel(self.classes[p], c, e.label) for p, c, e in zip(predicted, confidence, examples)]

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        lines = classification_report(metrics, "utterances", detailed=detailed)
        if detailed:
            lines += [f"  voice {v}: {acc:.2%}" for v, acc in metrics.get("by_voice", {}).items()]
        return lines

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[SpokenWordPrediction]:
        """The class of each sound file (the word spoken; a speaker-id run: the voice; any rate and
        channel count, resampled and averaged), with every class's probability, the pooling weights
        and the last layer's self-attention over its frames.

        Raises:
            attnkit.errors.InputError: for a missing, non-audio or empty file, one longer than
                :data:`MAX_SECONDS` (from its header, before decoding), a decoding flag or an
                option (this task takes none); every file is read before any prediction.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        if not inputs:
            raise InputError("no input recordings; give WAV files")
        limit = self.capabilities.max_seconds
        frames = [torch.from_numpy(features_of_file(path, self.config.features, max_seconds=limit)) for path in inputs]
        x, lengths = pad_frames(frames)
        device = next(model.parameters()).device
        with torch.no_grad():
            out = model(x.to(device), lengths.to(device), need_weights=True)
        probs = torch.softmax(out.logits.float(), -1).cpu()
        return [
            self._prediction(f, probs[b], out.pool_weights[b, : int(out.lengths[b])], out.layer_weights, b)
            for b, f in enumerate(frames)
        ]

    def _prediction(self, frames: Tensor, probs: Tensor, pool: Tensor, layers: tuple, row: int) -> SpokenWordPrediction:
        """Row `row`'s prediction from its frames (T, n_mels), class probabilities (C,), pooling
        weights (T',) and every layer's self-attention (B, H, T', T') each."""
        n = len(pool)
        best = int(probs.argmax())
        last = layers[-1][row, :, :n, :n].float().mean(0).cpu().numpy() if layers else None
        return SpokenWordPrediction(
            output=self.classes[best],
            probability=float(probs[best]),
            probabilities=probs.tolist(),
            frames=frames.numpy(),
            frame_seconds=self.config.features.frame_seconds,
            position_seconds=self.config.features.frame_seconds * ConvSubsampling.stride,
            pool_weights=pool.float().cpu().numpy(),
            self_weights=last,
        )
