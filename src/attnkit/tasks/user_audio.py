"""The user's own recordings: ``audio-labels`` (a folder of sound files and a TSV of
``FILE<TAB>LABEL[<TAB>SPEAKER]`` lines -> the label, like ``spoken-words``) and
``audio-transcripts`` (a TSV of ``FILE<TAB>TRANSCRIPT`` lines -> the transcript, character by
character, like ``spoken-dates``). The files and how they are read: :mod:`attnkit.data.user_audio`.

Splits. ``data.train`` alone: a seeded split (``data.dev_fraction`` and ``data.test_fraction``;
for labels stratified by label, every label with at least 3 recordings in each split;
:func:`attnkit.data.user_files.given_or_drawn`). ``data.train``, ``data.dev`` and ``data.test``:
the three TSVs as given. For labels, the classes are the training labels, sorted; for
transcripts, the output vocabulary is the training transcripts' characters.

Run folder. ``data/{split}.safetensors`` holds each split's log-mel frames and TSV fields
(:func:`attnkit.data.user_audio.save_recordings`), so the run no longer needs the recordings;
``dataset.json`` the config and the classes (``tgt_vocab.json`` the characters of a transcript run).

Models. ``audio-labels``: the ``speech-encoder`` family (self-attention over frames, attention
pooling); predictions of kind ``spoken-word``, with per-speaker accuracy in ``evaluate
--detailed``. ``audio-transcripts``: the ``rnn`` family behind a frame encoder (``model.frontend``)
or the ``transformer`` family, decoding greedily or with beam search; metrics exact match
(primary), chrF [Popovic15] and the alignment monotonicity; predictions of kind
``spectrogram-alignment``. Everything after reading is :class:`~attnkit.tasks.SpokenWordsTask`'s
and :class:`~attnkit.tasks.SpokenDatesTask`'s.

References:
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
    [Popovic15] M. Popović. chrF: character n-gram F-score for automatic MT evaluation. WMT 2015.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import Vocab
from ..data.audio import FeatureConfig
from ..data.user_audio import Recording, load_recordings, read_recordings, save_recordings
from ..data.user_files import check_labels, check_split_files, given_or_drawn, label_classes
from ..decoding import DecodeOptions
from ..errors import ConfigError
from ..evaluation import alignment_monotonicity, exact_match
from ..evaluation.bleu import corpus_scores
from ..heads import select_heads
from ..io import atomic_write_text
from ..schema import check_positive
from .base import PrimaryMetric
from .classification import check_split_fractions
from .spoken_dates import SpokenDatePrediction, SpokenDatesTask
from .spoken_words import SpokenExample, SpokenWordsTask

__all__ = ["AudioLabelsConfig", "AudioTranscriptsConfig", "AudioLabelsTask", "AudioTranscriptsTask"]


@dataclass(frozen=True)
class AudioLabelsConfig:
    """``data.task: audio-labels``.

    Attributes:
        audio_dir: the folder the TSVs' file names are relative to (relative to the working folder).
        train: the TSV of ``FILE<TAB>LABEL`` lines (a third field, optional: the speaker).
        dev, test: TSVs of the dev and test recordings; both empty: split from `train`.
        seed: seed of the split.
        dev_fraction, test_fraction: shares in dev and test, in (0, 1), when the split is drawn.
        sample_rate, n_mels: features (25 ms windows, 10 ms hop); every file is resampled.
        max_seconds: the longest recording read (in the data and by ``predict``).
    """

    task: str = "audio-labels"
    audio_dir: str = ""
    train: str = ""
    dev: str = ""
    test: str = ""
    seed: int = 1234
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    sample_rate: int = 16000
    n_mels: int = 80
    max_seconds: float = 30.0

    def check(self) -> None:
        if not self.audio_dir or not self.train:
            raise ConfigError(
                f"data.audio_dir and data.train: give the folder of recordings and the TSV of {self.layout} lines"
            )
        check_split_files(self)
        check_split_fractions(self)
        if not 0 < self.max_seconds <= 600:
            raise ConfigError(f"data.max_seconds must lie in (0, 600], got {self.max_seconds}")
        check_positive(self, "n_mels", section="data")
        self.features.check()

    @property
    def layout(self) -> str:
        return "FILE<TAB>LABEL"

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(sample_rate=self.sample_rate, n_mels=self.n_mels)


@dataclass(frozen=True)
class AudioTranscriptsConfig(AudioLabelsConfig):
    """``data.task: audio-transcripts``: as :class:`AudioLabelsConfig`, the TSVs holding
    ``FILE<TAB>TRANSCRIPT`` lines; `max_seconds` (default 12) also sizes the Transformer's
    position table."""

    task: str = "audio-transcripts"
    max_seconds: float = 12.0

    @property
    def layout(self) -> str:
        return "FILE<TAB>TRANSCRIPT"


def _read_splits(cfg: AudioLabelsConfig, columns: list[str], optional: int) -> dict[str, list[Recording]]:
    """The recordings of each split: the given TSVs, or `train`'s, split seeded (stratified by the
    second column for labels)."""

    def read(path: str) -> list[Recording]:
        return read_recordings(
            cfg.audio_dir, path, columns, cfg.features, max_seconds=cfg.max_seconds, optional=optional
        )

    def strata(every: list[Recording]) -> list[int]:
        labels = sorted({r.target for r in every}) if columns[1] == "label" else []
        return [labels.index(r.target) if labels else 0 for r in every]

    return given_or_drawn(cfg, read, strata)


def _save(cfg: AudioLabelsConfig, run_dir: Path, splits: dict[str, list[Recording]], **info: Any) -> None:
    for split, recordings in splits.items():
        save_recordings(run_dir / "data" / f"{split}.safetensors", recordings)
    counts = {f"{split}_recordings": len(r) for split, r in splits.items()}
    record = {"config": asdict(cfg), **info, "counts": counts}
    atomic_write_text(run_dir / "dataset.json", json.dumps(record, indent=1, ensure_ascii=False))


@dataclass
class AudioLabelsTask(SpokenWordsTask):
    """Classification of the user's recordings (:class:`AudioLabelsConfig`); family
    ``speech-encoder``. Primary metric: accuracy (macro-F1 breaks ties)."""

    class_names: tuple[str, ...] = ()

    name = "audio-labels"
    config_class = AudioLabelsConfig  # type: ignore[assignment]

    @property
    def classes(self) -> list[str]:
        return list(self.class_names)

    @property
    def capabilities(self) -> TaskCapabilities:
        """A sound file in, one of the labels out."""
        return TaskCapabilities(InputKind.AUDIO, classes=tuple(self.classes), max_seconds=self.config.max_seconds)

    @staticmethod
    def _examples(recordings: Sequence[Recording], classes: Sequence[str]) -> list[SpokenExample]:
        return [
            SpokenExample(torch.from_numpy(r.frames), classes.index(r.target), r.file, r.speaker or "-")
            for r in recordings
        ]

    @classmethod
    def build(cls, cfg: AudioLabelsConfig, run_dir: str | Path) -> tuple["AudioLabelsTask", dict[str, list]]:
        """Read the recordings the TSVs name, split them if needed, write the run's copy.

        Raises:
            attnkit.errors.ConfigError: one line naming the TSV and line at fault, or a dev or
                test label without training recordings.
        """
        splits = _read_splits(cfg, ["file", "label", "speaker"], optional=1)
        classes = label_classes([r.target for r in splits["train"]], cfg.train)
        for split in ("dev", "test"):
            check_labels(classes, [(getattr(cfg, split), r.line, r.target) for r in splits[split]], cfg.train)
        _save(cfg, Path(run_dir), splits, classes=classes)
        return cls(cfg, tuple(classes)), {s: cls._examples(r, classes) for s, r in splits.items()}

    @classmethod
    def load(cls, cfg: Any, run_dir: str | Path) -> "AudioLabelsTask":
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        return cls(cfg, tuple(info["classes"]))

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[SpokenExample]:
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        return cls._examples(load_recordings(Path(run_dir) / "data" / f"{split}.safetensors"), info["classes"])

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        """Count, accuracy, macro-F1; `detailed` adds per-class accuracy and, when the TSV names
        speakers, per-speaker accuracy."""
        lines = super().report(metrics, detailed=detailed)
        if set(metrics.get("by_voice", {})) == {"-"}:  # no speakers named
            return [line for line in lines if not line.startswith("  voice ")]
        return [line.replace("  voice ", "  speaker ") for line in lines]


class Transcribed(NamedTuple):
    """One transcribed recording: its file, transcript and frames (T, n_mels)."""

    file: str
    target: str
    frames: Tensor


@dataclass
class AudioTranscriptsTask(SpokenDatesTask):
    """Transcription of the user's recordings (:class:`AudioTranscriptsConfig`) into characters;
    families ``rnn`` (with ``model.frontend``) and ``transformer``."""

    max_target_len: int = 10

    name = "audio-transcripts"
    config_class = AudioTranscriptsConfig  # type: ignore[assignment]
    metric = PrimaryMetric("exact_match", higher_is_better=True, best_possible=1.0, tie_break="chrf")

    @property
    def capabilities(self) -> TaskCapabilities:
        """A sound file in, its transcript decoded character by character."""
        return TaskCapabilities(InputKind.AUDIO, decodes=True, max_seconds=self.config.max_seconds)

    @classmethod
    def build(  # type: ignore[override]
        cls, cfg: AudioTranscriptsConfig, run_dir: str | Path
    ) -> tuple["AudioTranscriptsTask", dict[str, list]]:
        """Read the recordings the TSVs name, split them if needed, build the characters'
        vocabulary, write the run's copy. The longest output decoded is twice the longest
        training transcript plus 10 characters.

        Raises:
            attnkit.errors.ConfigError: one line naming the TSV and line at fault.
        """
        splits = _read_splits(cfg, ["file", "transcript"], optional=0)
        longest = max(len(r.target) for r in splits["train"])
        run_dir = Path(run_dir)
        _save(cfg, run_dir, splits, max_target_len=2 * longest + 10)
        vocab = Vocab.build(list(r.target) for r in splits["train"])
        vocab.save(run_dir / "tgt_vocab.json")
        examples = {
            s: [Transcribed(r.file, r.target, torch.from_numpy(r.frames)) for r in rs] for s, rs in splits.items()
        }
        return cls(cfg, vocab, 2 * longest + 10), examples

    @classmethod
    def load(cls, cfg: Any, run_dir: str | Path) -> "AudioTranscriptsTask":
        info = json.loads((Path(run_dir) / "dataset.json").read_text(encoding="utf-8"))
        return cls(cfg, Vocab.load(Path(run_dir) / "tgt_vocab.json"), int(info["max_target_len"]))

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> list[Transcribed]:  # type: ignore[override]
        recordings = load_recordings(Path(run_dir) / "data" / f"{split}.safetensors")
        return [Transcribed(r.file, r.target, torch.from_numpy(r.frames)) for r in recordings]

    def evaluate(  # type: ignore[override]
        self, model: nn.Module, examples: Sequence[Transcribed], *, decode: DecodeOptions | None = None
    ) -> tuple[dict[str, Any], list[SpokenDatePrediction]]:
        """Exact match, corpus chrF (0-100) and, for models with one alignment, its monotonicity
        and forward moves (greedy, or beam search with ``decode.beam_size`` > 1)."""
        decoded = self._decode(model, [e.frames for e in examples], decode)
        outputs, targets = [d[0] for d in decoded], [e.target for e in examples]
        metrics: dict[str, Any] = {
            "exact_match": exact_match(outputs, targets),
            "chrf": corpus_scores(outputs, targets).chrf if examples else 0.0,
            "n": len(examples),
        }
        maps = [select_heads(d[2], "mean") for d in decoded if d[2] is not None]
        if maps:
            metrics["monotonicity"], metrics["n_steps"] = alignment_monotonicity(maps)
            metrics["forward_moves"], _ = alignment_monotonicity(maps, strict=True)
        seconds = self._position_seconds(model)
        frame = self.config.features.frame_seconds
        return metrics, [SpokenDatePrediction(o, toks, w, None, frame, seconds) for o, toks, w in decoded]

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        lines = [
            f"{'recordings:':<20}{metrics['n']}",
            f"{'exact match:':<20}{metrics['exact_match']:.2%}",
            f"{'chrF:':<20}{metrics['chrf']:.1f}",
        ]
        if "monotonicity" in metrics:
            lines.append(
                f"{'monotonicity:':<20}{metrics['monotonicity']:.2%} of {metrics['n_steps']} output steps "
                "whose attention peak does not move backwards in time"
            )
        return lines
