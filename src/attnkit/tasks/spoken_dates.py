"""Spoken dates -> ISO 8601: the date task's dates spoken aloud by espeak-ng, read from their
log-mel frames by a sequence-to-sequence model that writes ``YYYY-MM-DD``.

Data. The dates, formats and locales are the text date task's (:func:`attnkit.data.dates.make_splits`),
restricted to locales espeak-ng speaks (:data:`ESPEAK_LANGUAGES`). Every example is spoken by
the voice ``<language of its locale>+<variant>``, at a speed and pitch drawn from
``data.speeds`` and ``data.pitches``; ``data.dev_variants`` and ``data.test_variants`` of
``data.variants`` are held out (:func:`attnkit.data.speech.split_voices`), so dev and test are
spoken by voices the model never heard. The WAV files live in the speech cache
(:class:`attnkit.data.speech.SpeechCache`); ``data/{split}.jsonl`` records every example's date,
voice and the sha256 of its file, and loading a split checks them.

Models: the ``rnn`` family (any attention by name: ``bahdanau``, ``location-aware``, ...) behind
the frame encoder ``model.frontend`` (the LAS listener, strided convolutions and a BiLSTM, or strided
convolutions and self-attention layers), and the
``transformer`` family behind convolutional subsampling (:mod:`attnkit.models.speech_seq2seq`).
Decoding is :func:`attnkit.decoding.greedy_decode` or :func:`attnkit.decoding.beam_search`.

Metrics: exact match (primary), exact match per locale, the alignment monotonicity and the
share of steps whose peak moves strictly forwards (:func:`attnkit.evaluation.alignment_monotonicity`,
on the mean of the heads for the Transformer).

References:
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
    [Chan16] W. Chan, N. Jaitly, Q. Le, O. Vinyals. Listen, Attend and Spell. ICASSP 2016.
    arXiv:1508.01211.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence, cast

import numpy as np
import torch
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import Batch, Vocab, collate, dates
from ..data.audio import FeatureConfig, features_of_file
from ..data.dates import DateExample
from ..data.speech import EspeakMissing, SpeechCache, SynthesisError, Utterance, split_voices
from ..decoding import DecodeOptions, beam_search, greedy_decode
from ..decoding.options import check_max_len
from ..errors import ConfigError, InputError
from ..evaluation import alignment_monotonicity, exact_match
from ..heads import select_heads
from ..io import atomic_write_text
from ..models.specs import SpeechSeq2SeqSpec
from ..models.speech_seq2seq import ListensToFrames
from ..predictions import SPECTROGRAM_ALIGNMENT
from ..schema import check_positive
from .base import PrimaryMetric
from .date_task import check_date_sizes
from .seq2seq import TeacherForcedTask
from .spoken_words import pad_frames, speech_cache_dir

__all__ = [
    "field_accuracy",
    "SpokenDatesConfig",
    "SpokenDate",
    "SpokenDatePrediction",
    "SpokenDatesTask",
    "ESPEAK_LANGUAGES",
]

#: Date-task locale -> the espeak-ng language that speaks it.
ESPEAK_LANGUAGES = {
    "en_US": "en-us",
    "en_GB": "en-gb",
    "de_DE": "de",
    "fr_FR": "fr",
    "es_ES": "es",
    "it_IT": "it",
    "pt_BR": "pt-br",
    "nl_NL": "nl",
    "ru_RU": "ru",
}
FIELDS = ("text", "voice", "speed", "pitch", "snr_db", "noise_seed")


def field_accuracy(outputs: Sequence[str], targets: Sequence[str]) -> dict[str, float]:
    """How much of each ISO 8601 date ``YYYY-MM-DD`` is right, for outputs and targets (N each):
    the share of outputs whose year (characters 0-3), month (5-6) and day (8-9) equal the
    target's, and of target characters that the output has at the same position
    (``char_accuracy``; a short output misses the rest, a long one is not credited beyond the
    target's length). Empty lists give 0.0.

    Raises:
        ValueError: if the lists differ in length.
    """
    if len(outputs) != len(targets):
        raise ValueError(f"{len(outputs)} outputs for {len(targets)} targets")
    n = max(len(targets), 1)
    fields = {"year": slice(0, 4), "month": slice(5, 7), "day": slice(8, 10)}
    scores = {
        f"{name}_accuracy": sum(o[sl] == t[sl] for o, t in zip(outputs, targets)) / n for name, sl in fields.items()
    }
    scores["char_accuracy"] = (
        sum(sum(a == b for a, b in zip(o, t)) / max(len(t), 1) for o, t in zip(outputs, targets)) / n
    )
    return scores


#: the most utterances (train + dev + test) a spoken-dates config may ask for: each is synthesised
#: by espeak-ng and kept as log-mel frames, and 200,000 already take hours and gigabytes
MAX_SPOKEN_DATES = 200_000


@dataclass(frozen=True)
class SpokenDatesConfig:
    """``data.task: spoken-dates``.

    Attributes:
        n_train, n_dev, n_test: split sizes (utterances).
        locales: date-task locales with an espeak-ng language (:data:`ESPEAK_LANGUAGES`).
        variants: espeak-ng voice variants; each locale's voices are its language + a variant.
        dev_variants, test_variants: variants held out for dev and test.
        speeds: words per minute, drawn per utterance; pitches: 0-99, drawn per utterance.
        snr_db: white noise at this SNR in dB; 0 = clean.
        cache: the speech cache ("" = $ATTNKIT_SPEECH_CACHE or ~/.cache/attnkit/speech).
        sample_rate, n_mels: features (25 ms windows, 10 ms hop).
        max_seconds: longest recording a model takes (sizes the Transformer's position table).
        seed: seed of the dates, the voice split and the draws.
    """

    task: str = "spoken-dates"
    n_train: int = 3000
    n_dev: int = 200
    n_test: int = 400
    locales: tuple[str, ...] = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "ru_RU")
    variants: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4")
    dev_variants: int = 1
    test_variants: int = 2
    speeds: tuple[int, ...] = (150, 175, 200)
    pitches: tuple[int, ...] = (40, 50, 60)
    snr_db: float = 0.0
    cache: str = ""
    sample_rate: int = 16000
    n_mels: int = 80
    max_seconds: float = 12.0
    seed: int = 1234

    def check(self) -> None:
        check_positive(self, "n_train", "n_dev", "n_test", "dev_variants", "test_variants", section="data")
        unknown = [loc for loc in self.locales if loc not in ESPEAK_LANGUAGES]
        if not self.locales or unknown:
            raise ConfigError(
                f"data.locales: {unknown or 'none'} cannot be spoken; choose from {', '.join(ESPEAK_LANGUAGES)}"
            )
        if not self.speeds or not self.pitches or self.max_seconds <= 0:
            raise ConfigError("data.speeds and data.pitches need a value each, and data.max_seconds must be > 0")
        split_voices(self.variants, self.dev_variants, self.test_variants, self.seed)
        self.features.check()
        check_date_sizes(self, self.locales, MAX_SPOKEN_DATES)
        try:
            for loc in self.locales:
                for variant in self.variants:
                    Utterance("1", f"{ESPEAK_LANGUAGES[loc]}+{variant}", self.speeds[0], self.pitches[0]).check()
            for speed in self.speeds:
                Utterance("1", "en", speed, self.pitches[0]).check()
            for pitch in self.pitches:
                Utterance("1", "en", self.speeds[0], pitch).check()
        except SynthesisError as err:
            raise ConfigError(f"data: {err}") from None
        except EspeakMissing:  # the voices are checked when the data is built, where espeak-ng is needed
            pass

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(sample_rate=self.sample_rate, n_mels=self.n_mels)


@dataclass(frozen=True)
class SpokenDate:
    """One spoken date: the text date example, how it was spoken, and its frames (T, n_mels)."""

    date: DateExample
    utterance: Utterance
    sha256: str
    frames: Tensor

    @property
    def target(self) -> str:
        return self.date.target

    @property
    def locale(self) -> str:
        return self.date.locale

    def to_dict(self) -> dict:
        return {"date": self.date.to_dict(), "utterance": asdict(self.utterance), "sha256": self.sha256}


@dataclass
class SpokenDatePrediction:
    """A decoded recording.

    Attributes:
        output: the ISO date written, e.g. "1979-05-03".
        out_tokens: its characters, then "</s>".
        weights: alignment weights over the encoder positions, (To, Tk) or per head (Nh, To, Tk).
        frames: the log-mel frames read, (T, n_mels); None in evaluation.
        frame_seconds, position_seconds: seconds per frame and per encoder position.
    """

    kind: ClassVar[str] = SPECTROGRAM_ALIGNMENT

    output: str
    out_tokens: list[str]
    weights: Tensor | None
    frames: np.ndarray | None
    frame_seconds: float
    position_seconds: float


@dataclass
class SpokenDatesTask(TeacherForcedTask):
    """Spoken dates as a task plug-in (families rnn and transformer, through a
    :class:`~attnkit.models.specs.SpeechSeq2SeqSpec`)."""

    config: Any  # a SpokenDatesConfig; a subclass reads its own (AudioTranscriptsTask)
    tgt_vocab: Vocab

    name = "spoken-dates"
    config_class = SpokenDatesConfig
    default_family = "rnn"
    # exact match stays 0 for many steps while the model learns the fields: the characters in place
    # break its ties, so early stopping and the kept checkpoint follow that progress
    metric = PrimaryMetric("exact_match", higher_is_better=True, best_possible=1.0, tie_break="char_accuracy")
    spec_class = SpeechSeq2SeqSpec
    max_target_len = 10

    @property
    def capabilities(self) -> TaskCapabilities:
        """A WAV file in, the date decoded character by character."""
        return TaskCapabilities(InputKind.AUDIO, decodes=True, max_seconds=self.config.max_seconds)

    @property
    def spec(self) -> SpeechSeq2SeqSpec:
        positions = math.ceil(self.config.max_seconds / self.config.features.frame_seconds / 4) + 1
        return SpeechSeq2SeqSpec(
            1, len(self.tgt_vocab), max(positions, self.max_target_len + 2), Vocab.pad_id, n_mels=self.config.n_mels
        )

    # --- data and the run folder -------------------------------------------------------------
    @classmethod
    def build(cls, cfg: SpokenDatesConfig, run_dir: str | Path) -> tuple["SpokenDatesTask", dict[str, list]]:
        """Draw the dates, speak them (or find them in the cache), save the splits and the
        target vocabulary.

        Raises:
            attnkit.errors.ConfigError: if espeak-ng is missing, or the sizes cannot be met.
        """
        try:
            texts = dates.make_splits(cfg.n_train, cfg.n_dev, cfg.n_test, cfg.seed, locales=tuple(cfg.locales))
        except ValueError as err:
            raise ConfigError(f"data: {err}") from None
        variants = split_voices(cfg.variants, cfg.dev_variants, cfg.test_variants, cfg.seed)
        rng = random.Random(cfg.seed + 1)
        cache = SpeechCache(speech_cache_dir(cfg.cache))
        splits = {}
        for split, examples in texts.items():
            utts = []
            for i, ex in enumerate(examples):
                voice = f"{ESPEAK_LANGUAGES[ex.locale]}+{rng.choice(variants[split])}"
                # clean speech keeps Utterance's defaults (no noise, seed 0)
                snr, seed = (float(cfg.snr_db), cfg.seed + i) if cfg.snr_db else (None, 0)
                utts.append(
                    Utterance(
                        ex.text, voice, rng.choice(cfg.speeds), rng.choice(cfg.pitches), snr_db=snr, noise_seed=seed
                    )
                )
            try:
                paths = cache.ensure(utts)
            except SynthesisError as err:
                raise ConfigError(f"data: {err}") from None
            splits[split] = [
                SpokenDate(
                    ex,
                    u,
                    hashlib.sha256(p.read_bytes()).hexdigest(),
                    torch.from_numpy(features_of_file(p, cfg.features)),
                )
                for ex, u, p in zip(examples, utts, paths)
            ]
            rows = "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in splits[split])
            atomic_write_text(Path(run_dir) / "data" / f"{split}.jsonl", rows)
        task = cls(cfg, Vocab.build(list(s.target) for s in splits["train"]))
        task.tgt_vocab.save(Path(run_dir) / "tgt_vocab.json")
        atomic_write_text(
            Path(run_dir) / "dataset.json",
            json.dumps({"config": asdict(cfg), "variants": variants}, indent=1, ensure_ascii=False),
        )
        return task, splits

    @classmethod
    def load(cls, cfg: SpokenDatesConfig, run_dir: str | Path) -> "SpokenDatesTask":
        return cls(cfg, Vocab.load(Path(run_dir) / "tgt_vocab.json"))

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[SpokenDate]:
        """A saved split, re-read from the speech cache (missing files spoken again) and checked
        against the run's sha256 sums.

        Raises:
            attnkit.errors.ConfigError: if a recording differs from the one the run used.
        """
        run_dir = Path(run_dir)
        info = json.loads((run_dir / "dataset.json").read_text(encoding="utf-8"))
        saved: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in info["config"].items()}
        cfg = SpokenDatesConfig(**saved)
        rows = [
            json.loads(line)
            for line in (run_dir / "data" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        utts = [Utterance(**{k: r["utterance"][k] for k in FIELDS}) for r in rows]
        paths = SpeechCache(speech_cache_dir(cfg.cache)).ensure(utts)
        out = []
        for r, u, p in zip(rows, utts, paths):
            if hashlib.sha256(p.read_bytes()).hexdigest() != r["sha256"]:
                raise ConfigError(
                    f"{p}: differs from the recording this run was trained on (another espeak-ng "
                    "version?); retrain, or point data.cache at the run's cache"
                )
            out.append(
                SpokenDate(
                    DateExample.from_dict(r["date"]),
                    u,
                    r["sha256"],
                    torch.from_numpy(features_of_file(p, cfg.features)),
                )
            )
        return out

    # --- training ------------------------------------------------------------------------------
    def encode(self, examples: Sequence[SpokenDate]) -> list[tuple[Tensor, list[int]]]:
        return [(e.frames, self.tgt_vocab.encode(list(e.target))) for e in examples]

    @staticmethod
    def collate(items: Sequence[tuple[Tensor, list[int]]]) -> Batch:
        frames, lengths = pad_frames([f for f, _ in items])
        return collate([[Vocab.unk_id]] * len(items), [t for _, t in items])._replace(src=frames, src_lengths=lengths)

    def decode_target(self, ids: Sequence[int]) -> str:
        return "".join(self.tgt_vocab.decode(ids))

    # --- evaluation and prediction -------------------------------------------------------------
    def _decode(
        self, model: nn.Module, frames: Sequence[Tensor], decode: DecodeOptions | None
    ) -> list[tuple[str, list[str], Tensor | None]]:
        """(output, output tokens + "</s>", weights trimmed to the real positions) per input, in order,
        greedy or with beam search as `decode` says (None: greedy, 64 recordings per batch)."""
        options = decode or DecodeOptions(batch_size=64)
        check_max_len(options, self.spec.max_len - 1)
        batch_size, max_len = options.batch_size, options.max_len or self.max_target_len
        model.eval()
        device = next(model.parameters()).device
        order = sorted(range(len(frames)), key=lambda i: len(frames[i]))
        out: list = [None] * len(frames)
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                x, lengths = pad_frames([frames[i] for i in chunk])
                x, lengths = x.to(device), lengths.to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.precision == "bf16"):
                    if options.beam_size > 1:
                        hyps = [n[0] for n in beam_search(model, x, lengths, max_len, options)]
                    else:
                        hyps = greedy_decode(model, x, lengths, max_len)
                real = cast(ListensToFrames, model).memory_lengths(lengths).tolist()
                for i, hyp, n in zip(chunk, hyps, real):
                    weights = None if hyp.weights is None else hyp.weights[..., :n].cpu()
                    out[i] = (
                        self.decode_target(hyp.tokens),
                        [self.tgt_vocab.itos[t] for t in hyp.tokens] + ["</s>"],
                        weights,
                    )
        return out

    def _position_seconds(self, model: nn.Module) -> float:
        return self.config.features.frame_seconds * cast(ListensToFrames, model).frames_per_position

    def evaluate(
        self, model: nn.Module, examples: Sequence[SpokenDate], *, decode: DecodeOptions | None = None
    ) -> tuple[dict[str, Any], list[SpokenDatePrediction]]:
        """Exact match, exact match per locale, the alignment monotonicity and forward moves (greedy, or beam
        search with ``decode.beam_size`` > 1)."""
        decoded = self._decode(model, [e.frames for e in examples], decode)
        outputs = [d[0] for d in decoded]
        targets = [e.target for e in examples]
        metrics: dict[str, Any] = {
            "exact_match": exact_match(outputs, targets),
            **field_accuracy(outputs, targets),
            "n": len(examples),
        }
        maps = [select_heads(d[2], "mean") for d in decoded if d[2] is not None]
        if maps:
            metrics["monotonicity"], metrics["n_steps"] = alignment_monotonicity(maps)
            metrics["forward_moves"], _ = alignment_monotonicity(maps, strict=True)
        by_locale: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        for e, o in zip(examples, outputs):
            by_locale[e.locale][0].append(o)
            by_locale[e.locale][1].append(e.target)
        metrics["by_locale"] = {k: exact_match(*v) for k, v in sorted(by_locale.items())}
        seconds = self._position_seconds(model)
        return metrics, [
            SpokenDatePrediction(o, toks, w, None, self.config.features.frame_seconds, seconds)
            for o, toks, w in decoded
        ]

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        lines = [f"{'utterances:':<20}{metrics['n']}", f"{'exact match:':<20}{metrics['exact_match']:.2%}"]
        if "char_accuracy" in metrics:
            lines.append(
                f"{'fields right:':<20}year {metrics['year_accuracy']:.2%}, month "
                f"{metrics['month_accuracy']:.2%}, day {metrics['day_accuracy']:.2%}; characters in "
                f"place {metrics['char_accuracy']:.2%}"
            )
        if "monotonicity" in metrics:
            lines.append(
                f"{'monotonicity:':<20}{metrics['monotonicity']:.2%} of {metrics['n_steps']} output steps "
                "whose attention peak does not move backwards in time"
            )
            lines.append(
                f"{'forward moves:':<20}{metrics['forward_moves']:.2%} of them move strictly forwards "
                "(a peak that never moves is monotonic too)"
            )
        if detailed:
            lines += [f"  {loc}: {acc:.2%}" for loc, acc in metrics.get("by_locale", {}).items()]
        return lines

    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[str],
        *,
        options: Mapping[str, str] = {},
        decode: DecodeOptions | None = None,
    ) -> list[SpokenDatePrediction]:
        """The ISO date spoken in each sound file (any rate, resampled), with its alignment.

        Raises:
            attnkit.errors.InputError: for a missing, non-audio, empty or too long file, or an
                option (this task takes none); every file is read before any is decoded.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        if not inputs:
            raise InputError("no input recordings; give WAV files")
        frames = [  # the duration is checked from the header first, before decoding
            torch.from_numpy(features_of_file(path, self.config.features, max_seconds=self.config.max_seconds))
            for path in inputs
        ]
        limit = self.config.max_seconds / self.config.features.frame_seconds
        for path, f in zip(inputs, frames):
            if len(f) > limit:
                raise InputError(
                    f"{path}: {len(f) * self.config.features.frame_seconds:.1f} s is longer than the "
                    f"{self.config.max_seconds} s this model takes; cut the recording"
                )
        seconds = self._position_seconds(model)
        return [
            SpokenDatePrediction(o, toks, w, f.numpy(), self.config.features.frame_seconds, seconds)
            for (o, toks, w), f in zip(self._decode(model, frames, decode), frames)
        ]
