"""Speaker identification: which espeak-ng voice speaks a recording, one label per sequence,
read from log-mel frames by attention pooling; whole texts (never voices) are held out.

Data. Every text of ``data.texts`` (words or short phrases) is spoken by every voice of
``data.voices`` (``LANG`` or ``LANG+VARIANT``, one class each) at every speed of ``data.speeds``
and pitch of ``data.pitches`` (optionally with white noise at ``data.snr_db``), through the same
:class:`attnkit.data.speech.SpeechCache` as the spoken-words task (``data.cache``:
``$ATTNKIT_SPEECH_CACHE`` or ``~/.cache/attnkit/speech`` when empty). The texts are shuffled with
``data.seed`` and ``data.dev_texts`` and ``data.test_texts`` of them are drawn out
(:func:`split_texts`): every voice speaks in every split, no dev or test text is ever heard in
training, so the test accuracy is the accuracy on words the model never heard any voice say.
``data.pitches`` shifts every voice alike, so one voice's pitch varies between its recordings.
Voices of other languages (``de+m3``, ``fr+f2``) read the same texts with their own letter-to-sound
rules, so their accent becomes a cue as well as their voice.

Run folder. ``dataset.json`` holds the config, the class names (the voices), the texts of each
split and, per split, every utterance's fields and the sha256 of its WAV file; loading a split
re-reads the cache (speaking missing files again) and fails with a one-line error if a file's
bytes differ from the run's.

Model: any family for :class:`~attnkit.models.specs.SpeechSpec` (``speech-encoder`` by default:
convolutional subsampling, a self-attention encoder and attention pooling [Yang16] Eqs. 5-7 over
the 40 ms positions). A prediction is of kind ``spoken-word``: the spectrogram with the pooling
weight of each position in seconds, the last layer's self-attention, and every voice's
probability.

Differences from speaker-recognition practice: espeak-ng's voices are formant-synthesiser
variants, not people, and the classes are closed (no open-set rejection, no enrolment); the
features are normalised per utterance (:func:`attnkit.data.audio.normalise_utterance`), which
removes each filter's average level over the recording.

References:
    [Yang16] Z. Yang et al. Hierarchical Attention Networks for Document Classification. NAACL 2016.
    [Dunn] R. Dunn et al. eSpeak NG text-to-speech, https://github.com/espeak-ng/espeak-ng.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data.audio import FeatureConfig, features_of_file
from ..data.speech import EspeakMissing, SpeechCache, SynthesisError, Utterance
from ..errors import ConfigError, InputError
from ..evaluation import classification_metrics
from ..io import atomic_write_text
from ..models.frontends import ConvSubsampling
from ..models.specs import SpeechSpec
from ..schema import check_positive
from .base import LossContext, PrimaryMetric
from .classification import ClassLabel, classification_report
from .spoken_words import (
    MAX_SECONDS,
    VOICES,
    SpeechBatch,
    SpokenExample,
    SpokenWordPrediction,
    SpokenWordsTask,
    pad_frames,
    speech_cache_dir,
)

__all__ = ["SpeakerIdConfig", "SpeakerPrediction", "SpeakerIdTask", "split_texts", "TEXTS"]

TEXTS = (
    "apple", "river", "garden", "window", "yellow", "morning", "pocket", "silver", "table", "music",
    "orange", "basket", "winter", "summer", "candle", "forest", "pencil", "rabbit", "bottle", "island",
    "kitchen", "letter", "mountain", "number", "paper", "planet", "question", "rocket", "shadow", "station",
    "thunder", "tiger", "valley", "village", "water", "wonder", "butter", "camera", "doctor", "engine",
    "family", "finger", "flower", "friday", "guitar", "hammer", "helmet", "jacket", "ladder", "lemon",
    "marble", "market", "monkey", "needle", "ocean", "palace", "pepper", "pillow", "puzzle", "ribbon",
    "saddle", "sister", "spider", "sugar", "ticket", "tomato", "tunnel", "violin", "wallet", "zebra",
    "good morning", "thank you", "see you soon", "open the door", "turn it off", "how are you",
    "what time is it", "not today", "over there", "come back later", "let me see", "one more time",
    "the red car", "a cup of tea", "very quiet", "right away", "all of them", "nice weather",
    "blue sky", "fresh bread", "small house", "long road", "cold water", "happy birthday",
    "bring it here", "under the bridge", "slow down please", "good night", "wait a minute", "just in case",
)  # fmt: skip
"""The default texts: 70 words and 30 short phrases, spoken alike by every voice."""


def split_texts(texts: Sequence[str], n_dev: int, n_test: int, seed: int) -> dict[str, list[str]]:
    """Hold out whole texts: a seeded shuffle of `texts` into train, dev and test.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``; dev and test have `n_dev` and `n_test`
        texts, train the rest (at least one), each list in the order of `texts`.

    Raises:
        attnkit.errors.ConfigError: for an empty list, an empty or repeated text (letter case
            ignored), counts below 1, or no text left to train on.
    """
    if not texts:
        raise ConfigError("data.texts is empty; give the words or phrases every voice speaks, e.g. [apple, river, ...]")
    blank = [t for t in texts if not t.strip()]
    if blank:
        raise ConfigError(f"data.texts holds an empty text ({blank[0]!r}); remove it")
    folded = [t.strip().casefold() for t in texts]
    repeated = sorted({t for t in folded if folded.count(t) > 1})
    if repeated:
        raise ConfigError(f"data.texts repeats {repeated[0]!r}; a text may appear once (it belongs to one split)")
    if n_dev < 1 or n_test < 1 or n_dev + n_test >= len(texts):
        raise ConfigError(
            f"{len(texts)} texts cannot give {n_dev} dev and {n_test} test texts (at least one each) and "
            "at least one to train on; add texts or hold out fewer"
        )
    order = list(texts)
    random.Random(seed).shuffle(order)
    held = {"dev": set(order[:n_dev]), "test": set(order[n_dev : n_dev + n_test])}
    return {
        "train": [t for t in texts if t not in held["dev"] | held["test"]],
        "dev": [t for t in texts if t in held["dev"]],
        "test": [t for t in texts if t in held["test"]],
    }


@dataclass(frozen=True)
class SpeakerIdConfig:
    """``data.task: speaker-id``.

    Attributes:
        texts: what the voices say (words or short phrases); split by text, never by voice.
        voices: espeak-ng voices (``LANG`` or ``LANG+VARIANT``), the classes.
        speeds: words per minute; pitches: 0-99. Every voice speaks every text at each pair.
        snr_db: white noise at this SNR in dB; 0 = clean.
        dev_texts, test_texts: texts held out for dev and test.
        cache: the speech cache folder ("" = $ATTNKIT_SPEECH_CACHE or ~/.cache/attnkit/speech).
        sample_rate, n_mels: features (25 ms windows, 10 ms hop).
        seed: seed of the text split and the noise.
    """

    task: str = "speaker-id"
    texts: tuple[str, ...] = TEXTS
    voices: tuple[str, ...] = VOICES
    speeds: tuple[int, ...] = (150, 200)
    pitches: tuple[int, ...] = (40, 60)
    snr_db: float = 0.0
    dev_texts: int = 15
    test_texts: int = 15
    cache: str = ""
    sample_rate: int = 16000
    n_mels: int = 80
    seed: int = 1234

    def check(self) -> None:
        if len(self.voices) < 2 or len(set(self.voices)) != len(self.voices):
            raise ConfigError(
                f"data.voices must name at least two different voices (the classes), got {list(self.voices)}"
            )
        if not self.speeds or not self.pitches:
            raise ConfigError("data.speeds and data.pitches must each hold at least one value")
        check_positive(self, "dev_texts", "test_texts", section="data")
        split_texts(self.texts, self.dev_texts, self.test_texts, self.seed)
        self.features.check()
        try:
            for utt in {u: None for u, _ in self.utterances(self.texts[:1])}:
                utt.check()
        except SynthesisError as err:
            raise ConfigError(f"data: {err}") from None
        except EspeakMissing:  # the voices are checked when the data is built, where espeak-ng is needed
            pass

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(sample_rate=self.sample_rate, n_mels=self.n_mels)

    def utterances(self, texts: Sequence[str]) -> list[tuple[Utterance, int]]:
        """(utterance, voice index) for every text of `texts`, voice, speed and pitch."""
        out: list[tuple[Utterance, int]] = []
        for text in texts:
            for label, voice in enumerate(self.voices):
                for speed in self.speeds:
                    for pitch in self.pitches:
                        # clean speech keeps Utterance's defaults (no noise, seed 0), so it shares spoken-words' cache
                        snr, seed = (float(self.snr_db), self.seed + len(out)) if self.snr_db else (None, 0)
                        out.append((Utterance(text.strip(), voice, speed, pitch, snr_db=snr, noise_seed=seed), label))
        return out


@dataclass
class SpeakerPrediction(SpokenWordPrediction):
    """The voice of one recording: a spoken-word prediction whose classes are voices.

    Attributes (beyond :class:`~attnkit.tasks.spoken_words.SpokenWordPrediction`'s):
        classes: the voices, in the order of ``probabilities``.

    ``output`` is the most probable voice (:class:`attnkit.predictions.ClassProbabilities`:
    ``attnkit predict`` prints the ``--top-k`` most probable with their probabilities).
    """

    classes: list[str]


def _examples(rows: Sequence[Mapping[str, Any]], paths: Sequence[Path], features: FeatureConfig) -> list[SpokenExample]:
    return [
        SpokenExample(torch.from_numpy(features_of_file(p, features)), r["label"], r["text"], r["voice"])
        for r, p in zip(rows, paths)
    ]


_FIELDS = ("text", "voice", "speed", "pitch", "snr_db", "noise_seed")


@dataclass
class SpeakerIdTask:
    """Speaker identification as a task plug-in; model family ``speech-encoder``. Primary metric:
    accuracy on held-out texts (macro-F1 breaks ties); evaluation also gives each voice's accuracy
    and the confusion matrix."""

    config: SpeakerIdConfig

    name = "speaker-id"
    config_class = SpeakerIdConfig
    default_family = "speech-encoder"
    metric = PrimaryMetric("accuracy", higher_is_better=True, best_possible=1.0, tie_break="macro_f1")
    loss_unit = "utterances"
    spec_class = SpeechSpec

    @property
    def capabilities(self) -> TaskCapabilities:
        """A WAV file in, one of the voices out."""
        return TaskCapabilities(InputKind.AUDIO, classes=tuple(self.classes), max_seconds=MAX_SECONDS)

    @property
    def classes(self) -> list[str]:
        return list(self.config.voices)

    @property
    def spec(self) -> SpeechSpec:
        return SpeechSpec(self.config.n_mels, len(self.classes))

    # --- data and the run folder -------------------------------------------------------------
    @classmethod
    def build(cls, cfg: SpeakerIdConfig, run_dir: str | Path) -> tuple["SpeakerIdTask", dict[str, list]]:
        """Speak (or find in the cache) every utterance, split by text, write ``dataset.json``.

        Raises:
            attnkit.errors.ConfigError: if espeak-ng is missing or a voice is unknown.
        """
        cache = SpeechCache(speech_cache_dir(cfg.cache))
        texts = split_texts(cfg.texts, cfg.dev_texts, cfg.test_texts, cfg.seed)
        records, splits = {}, {}
        for split, chosen in texts.items():
            pairs = cfg.utterances(chosen)
            try:
                paths = cache.ensure(u for u, _ in pairs)
            except SynthesisError as err:
                raise ConfigError(f"data: {err}") from None
            manifest = cache.manifest()
            records[split] = [
                {**asdict(u), "label": y, "file": p.name, "sha256": manifest[p.name]["sha256"]}
                for (u, y), p in zip(pairs, paths)
            ]
            splits[split] = _examples(records[split], paths, cfg.features)
        info = {"config": asdict(cfg), "classes": list(cfg.voices), "texts": texts, "splits": records}
        atomic_write_text(Path(run_dir) / "dataset.json", json.dumps(info, indent=1, ensure_ascii=False))
        return cls(cfg), splits

    @classmethod
    def load(cls, cfg: SpeakerIdConfig, run_dir: str | Path) -> "SpeakerIdTask":
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
        cfg = SpeakerIdConfig(**saved)
        rows = info["splits"][split]
        paths = SpeechCache(speech_cache_dir(cfg.cache)).ensure(Utterance(**{k: r[k] for k in _FIELDS}) for r in rows)
        for r, p in zip(rows, paths):
            if hashlib.sha256(p.read_bytes()).hexdigest() != r["sha256"]:
                raise ConfigError(
                    f"{p}: differs from the recording this run was trained on (another espeak-ng "
                    "version?); retrain, or point data.cache at the run's cache"
                )
        return _examples(rows, paths, cfg.features)

    # --- training: as spoken words, with voices for classes --------------------------------------
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
        return SpokenWordsTask.collate(items)

    @staticmethod
    def loss(model: nn.Module, batch: SpeechBatch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy of the voices (label smoothing from the train config)."""
        return SpokenWordsTask.loss(model, batch, ctx)

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, examples: Sequence[SpokenExample], *, batch_size: int = 256, decode: Any = None
    ) -> tuple[dict[str, Any], list[ClassLabel]]:
        """Accuracy, macro-F1, each voice's accuracy (``per_class_accuracy``) and the confusion matrix."""
        device = next(model.parameters()).device
        probs = []
        for start in range(0, len(examples), batch_size):
            batch = self.collate(examples[start : start + batch_size])
            probs.append(
                torch.softmax(model(batch.frames.to(device), batch.lengths.to(device)).logits.float(), -1).cpu()
            )
        top = torch.cat(probs).max(-1)
        predicted = top.indices.tolist()
        metrics = classification_metrics(predicted, [e.label for e in examples], len(self.classes))
        metrics["classes"] = self.classes
        return metrics, [
            ClassLabel(self.classes[p], float(c), e.label) for p, c, e in zip(predicted, top.values.tolist(), examples)
        ]

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return classification_report(metrics, "recordings", detailed=detailed)

    def predict(
        self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {}, decode: Any = None
    ) -> list[SpeakerPrediction]:
        """The voice speaking each sound file (any rate and channel count, resampled and averaged),
        with every voice's probability, the pooling weights and the last layer's self-attention.

        Raises:
            attnkit.errors.InputError: for a missing, non-audio or empty file, one longer than
                :data:`~attnkit.tasks.spoken_words.MAX_SECONDS` (from its header, before decoding)
                or an option (this task takes none); every file is read before any prediction.
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

    def _prediction(self, frames: Tensor, probs: Tensor, pool: Tensor, layers: tuple, row: int) -> SpeakerPrediction:
        n = len(pool)
        best = int(probs.argmax())
        last = layers[-1][row, :, :n, :n].float().mean(0).cpu().numpy() if layers else None
        return SpeakerPrediction(
            output=self.classes[best],
            probability=float(probs[best]),
            probabilities=probs.tolist(),
            frames=frames.numpy(),
            frame_seconds=self.config.features.frame_seconds,
            position_seconds=self.config.features.frame_seconds * ConvSubsampling.stride,
            pool_weights=pool.float().cpu().numpy(),
            self_weights=last,
            classes=self.classes,
        )
