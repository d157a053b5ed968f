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

import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..data.audio import FeatureConfig
from ..data.speech import Utterance
from ..errors import ConfigError
from ..schema import check_positive
from .classification import ClassLabel, classification_report
from .spoken_words import VOICES, SpokenExample, SpokenWordPrediction, SpokenWordsTask, check_speech

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
        check_speech(self.features, {u: None for u, _ in self.utterances(self.texts[:1])})

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


@dataclass
class SpeakerIdTask(SpokenWordsTask):
    """Speaker identification as a task plug-in; model family ``speech-encoder``. Primary metric:
    accuracy on held-out texts (macro-F1 breaks ties); evaluation also gives each voice's accuracy
    and the confusion matrix. Everything but the split (by text), the classes (the voices), the
    metrics (no per-voice breakdown beside the per-class one) and the prediction's ``classes`` is
    :class:`~attnkit.tasks.spoken_words.SpokenWordsTask`'s."""

    config: SpeakerIdConfig

    name = "speaker-id"
    config_class = SpeakerIdConfig  # type: ignore[assignment]

    @property
    def classes(self) -> list[str]:
        return list(self.config.voices)

    @classmethod
    def _held_out(cls, cfg: SpeakerIdConfig) -> tuple[str, dict[str, list[str]]]:
        """Whole texts are held out (:func:`split_texts`), recorded under ``"texts"``."""
        return "texts", split_texts(cfg.texts, cfg.dev_texts, cfg.test_texts, cfg.seed)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, examples: Sequence[SpokenExample], *, batch_size: int = 256, decode: Any = None
    ) -> tuple[dict[str, Any], list[ClassLabel]]:
        """Accuracy, macro-F1, each voice's accuracy (``per_class_accuracy``) and the confusion matrix."""
        metrics, labels = super().evaluate(model, examples, batch_size=batch_size)
        del metrics["by_voice"]  # the classes are the voices: per_class_accuracy holds it
        return metrics, labels

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return classification_report(metrics, "recordings", detailed=detailed)

    def _prediction(self, frames: Tensor, probs: Tensor, pool: Tensor, layers: tuple, row: int) -> SpeakerPrediction:
        return SpeakerPrediction(**vars(super()._prediction(frames, probs, pool, layers, row)), classes=self.classes)
