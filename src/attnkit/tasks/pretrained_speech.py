"""Speech recognition with an imported Whisper checkpoint (``attnkit import-hf``): a WAV file in,
its transcript out, with the cross-attention of every written token over the recording.

The run folder holds the checkpoint's tokenizer (``tokenizer/tokenizer.json``, read with the
``tokenizers`` library) and feature settings (``preprocessor_config.json``,
:class:`~attnkit.data.whisper_features.WhisperFeatures`). A recording is read at any rate and
resampled to 16 kHz (:func:`attnkit.data.audio.read_audio`), turned into Whisper's log-mel frames
(padded to the model's 30 s window) and decoded greedily or with beam search from the
checkpoint's prompt: ``<|startoftranscript|>``, then the prompt tokens of ``data.prompt`` (e.g.
``<|en|> <|transcribe|> <|notimestamps|>``).

Token ids. attnkit's decoders start from ``<s>`` (id 2) and stop at ``</s>`` (id 3)
(:class:`attnkit.data.Vocab`). The model therefore uses Whisper's vocabulary in
:func:`token_order`: Whisper's start and end-of-text tokens swapped into ids 2 and 3, every other
token at its own id. The importer permutes the embedding rows the same way; this task maps ids
back before the tokenizer reads them.

There is no training data: ``attnkit train`` and ``evaluate`` refuse the task with a one-line
message; ``predict``, ``explore`` and the Python API work.

References:
    [Radford22] A. Radford et al. Robust Speech Recognition via Large-Scale Weak Supervision.
    ICML 2023. arXiv:2212.04356.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, NoReturn, Sequence, cast

import numpy as np
import torch
from torch import Tensor, nn

from ..capabilities import InputKind, TaskCapabilities
from ..data import Vocab
from ..data.audio import read_audio
from ..data.whisper_features import WhisperFeatures
from ..decoding import DecodeOptions, beam_search, greedy_decode
from ..errors import ConfigError, InputError
from ..models.specs import SpeechSeq2SeqSpec
from ..models.speech_seq2seq import ListensToFrames
from ..predictions import SPECTROGRAM_ALIGNMENT
from ..schema import check_positive
from .base import PrimaryMetric

__all__ = ["PretrainedSpeechConfig", "PretrainedSpeechTask", "Transcript", "token_order"]

TOKENIZER = "tokenizer/tokenizer.json"
PREPROCESSOR = "preprocessor_config.json"


def token_order(vocab_size: int, decoder_start: int, eos: int) -> list[int]:
    """The checkpoint's token id of each of the model's ids: Whisper's vocabulary with its start
    token at attnkit's ``<s>`` id and its end token at ``</s>``'s, the tokens there moved to
    where those two were; a permutation of range(`vocab_size`).

    Raises:
        ValueError: if the two ids are equal or outside the vocabulary.
    """
    if decoder_start == eos or not (0 <= decoder_start < vocab_size and 0 <= eos < vocab_size):
        raise ValueError(
            f"decoder start {decoder_start} and end {eos} must be two ids of the {vocab_size}-token vocabulary"
        )
    order = list(range(vocab_size))
    for ours, theirs in ((Vocab.bos_id, decoder_start), (Vocab.eos_id, eos)):
        j = order.index(theirs)
        order[ours], order[j] = order[j], order[ours]
    return order


@dataclass(frozen=True)
class PretrainedSpeechConfig:
    """``data.task: pretrained-speech`` (written by ``attnkit import-hf``; token ids are the
    checkpoint's).

    Attributes:
        vocab_size: the model's output tokens.
        decoder_start: ``<|startoftranscript|>`` (``decoder_start_token_id``).
        eos: ``<|endoftext|>`` (``eos_token_id``).
        prompt: tokens after the start token and before the transcript (language, task,
            ``<|notimestamps|>``), from the checkpoint's generation config.
        max_new_tokens: most tokens written per recording (the decoder's positions minus the prompt's).
    """

    task: str = "pretrained-speech"
    vocab_size: int = 51865
    decoder_start: int = 50258
    eos: int = 50257
    prompt: tuple[int, ...] = ()
    max_new_tokens: int = 443

    def check(self) -> None:
        check_positive(self, "vocab_size", "max_new_tokens", section="data")
        try:
            token_order(self.vocab_size, self.decoder_start, self.eos)
        except ValueError as err:
            raise ConfigError(f"data: {err}") from None
        bad = [t for t in self.prompt if not 0 <= t < self.vocab_size]
        if bad:
            raise ConfigError(f"data.prompt: token {bad[0]} is outside the {self.vocab_size}-token vocabulary")


@dataclass
class Transcript:
    """A transcribed recording.

    Attributes:
        output: the transcript (special tokens left out).
        out_tokens: the written tokens as text, each decoded alone, then "</s>" (the end token).
        weights: the last decoder layer's cross-attention of each of them over the encoder
            positions of the recording, per head (Nh, To, Tk) (the padding of the 30 s window after
            the recording is cut off).
        frames: the log-mel frames of the recording, (T, n_mels).
        frame_seconds, position_seconds: seconds per frame (10 ms) and per encoder position (20 ms).
        token_ids: the checkpoint's ids of the written tokens.
    """

    kind: ClassVar[str] = SPECTROGRAM_ALIGNMENT

    output: str
    out_tokens: list[str]
    weights: Tensor | None
    frames: np.ndarray | None
    frame_seconds: float
    position_seconds: float
    token_ids: list[int]


def _no_data(what: str) -> NoReturn:
    raise ConfigError(
        f"task pretrained-speech has no {what}: it is an imported checkpoint (attnkit import-hf); "
        "use attnkit predict / explore on WAV files"
    )


@dataclass
class PretrainedSpeechTask:
    """An imported Whisper checkpoint as a task plug-in (family ``whisper``)."""

    config: PretrainedSpeechConfig
    tokenizer: Any  # tokenizers.Tokenizer
    features: WhisperFeatures

    name = "pretrained-speech"
    config_class = PretrainedSpeechConfig
    default_family = "whisper"
    metric = PrimaryMetric("exact_match", higher_is_better=True, best_possible=1.0)
    loss_unit = "target tokens"
    spec_class = SpeechSeq2SeqSpec

    @property
    def capabilities(self) -> TaskCapabilities:
        """A WAV file in, the transcript decoded token by token."""
        return TaskCapabilities(InputKind.AUDIO, decodes=True)

    @property
    def spec(self) -> SpeechSeq2SeqSpec:
        return SpeechSeq2SeqSpec(
            1,
            self.config.vocab_size,
            self.config.max_new_tokens + len(self.config.prompt) + 1,
            Vocab.pad_id,
            n_mels=self.features.feature_size,
        )

    @property
    def order(self) -> list[int]:
        """:func:`token_order` of this checkpoint: the checkpoint's id of each model id."""
        return token_order(self.config.vocab_size, self.config.decoder_start, self.config.eos)

    # --- the run folder ----------------------------------------------------------------------
    @classmethod
    def build(cls, cfg: PretrainedSpeechConfig, run_dir: str | Path) -> NoReturn:
        _no_data("training data")

    @classmethod
    def load(cls, cfg: PretrainedSpeechConfig, run_dir: str | Path) -> "PretrainedSpeechTask":
        """The task of an imported run: its tokenizer and feature settings.

        Raises:
            attnkit.errors.ConfigError: if ``tokenizer/tokenizer.json`` or
                ``preprocessor_config.json`` is missing or unreadable.
        """
        from tokenizers import Tokenizer

        run_dir = Path(run_dir)
        try:
            tokenizer = Tokenizer.from_file(str(run_dir / TOKENIZER))
            pre = json.loads((run_dir / PREPROCESSOR).read_text(encoding="utf-8"))
        except Exception as err:  # OSError, ValueError, or the tokenizers library's own exception type
            raise ConfigError(
                f"{run_dir}: cannot read {TOKENIZER} or {PREPROCESSOR} ({str(err).splitlines()[0]}); import again"
            ) from None
        return cls(cfg, tokenizer, WhisperFeatures.from_preprocessor(pre))

    @classmethod
    def load_split(cls, run_dir: str | Path, split: str) -> NoReturn:
        _no_data(f"{split} split")

    # --- training: none ------------------------------------------------------------------------
    def encode(self, examples: Sequence) -> NoReturn:
        _no_data("training data")

    def lengths(self, item: Any) -> NoReturn:
        _no_data("training data")

    def loss_weight(self, item: Any) -> NoReturn:
        _no_data("training data")

    def collate(self, items: Sequence) -> NoReturn:
        _no_data("training data")

    def loss(self, model: nn.Module, batch: Any, ctx: Any) -> NoReturn:
        _no_data("training data")

    def evaluate(self, model: nn.Module, examples: Sequence, *, decode: DecodeOptions | None = None) -> NoReturn:
        _no_data("test split")

    def report(self, metrics: Mapping[str, Any], *, detailed: bool = False) -> list[str]:
        return []

    # --- prediction ----------------------------------------------------------------------------
    def frames_of(self, path: str) -> tuple[np.ndarray, int]:
        """Whisper's log-mel frames of a sound file, (T, n_mels) for the whole window, and how many
        of them the recording covers.

        Raises:
            attnkit.errors.InputError: for a missing, non-audio or empty file, or one longer than
                the model's window.
        """
        samples = read_audio(path, self.features.sampling_rate)
        if samples.size > self.features.n_samples:
            raise InputError(
                f"{path}: {samples.size / self.features.sampling_rate:.1f} s is longer than the "
                f"{self.features.chunk_length} s this model reads at once; cut the recording"
            )
        covered = -(-samples.size // self.features.hop_length)  # ceil
        return self.features.log_mel(samples), min(covered, self.features.n_frames)

    def transcribe(
        self, model: nn.Module, frames: Sequence[np.ndarray], decode: DecodeOptions | None = None
    ) -> list[tuple[list[int], Tensor | None]]:
        """The checkpoint's ids of the tokens written for each window of frames (T, n_mels), and
        their weights (Nh, To, Tk) over all encoder positions; greedy or beam search as `decode`
        says (None: greedy), from the checkpoint's prompt."""
        options = decode or DecodeOptions()
        order = self.order
        ours = {theirs: i for i, theirs in enumerate(order)}
        prefix = [ours[t] for t in self.config.prompt]
        max_len = min(options.max_len or self.config.max_new_tokens, self.config.max_new_tokens)
        device = next(model.parameters()).device
        model.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(frames), options.batch_size):
                x = torch.from_numpy(np.stack(frames[start : start + options.batch_size])).to(device)
                lengths = torch.full((len(x),), x.shape[1], device=device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.precision == "bf16"):
                    if options.beam_size > 1:
                        hyps = [n[0] for n in beam_search(model, x, lengths, max_len, options, prefix=prefix)]
                    else:
                        hyps = greedy_decode(model, x, lengths, max_len, prefix=prefix)
                out += [([order[t] for t in h.tokens], h.weights) for h in hyps]
        return out

    def _spelling(self, token: int) -> str:
        """A token as text (byte-level pieces decoded, e.g. " the" rather than "Ġthe")."""
        return self.tokenizer.decode([token], skip_special_tokens=False) or self.tokenizer.id_to_token(token) or "?"

    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[str],
        *,
        options: Mapping[str, str] = {},
        decode: DecodeOptions | None = None,
    ) -> list[Transcript]:
        """The transcript of each sound file (any rate, resampled to 16 kHz; at most the model's
        30 s), with the cross-attention of each written token over the recording.

        Raises:
            attnkit.errors.InputError: for a missing, non-audio, empty or too long file, or an
                option (this task takes none); every file is read before any is decoded.
        """
        if options:
            raise InputError(f"task {self.name} takes no options, got {', '.join(options)}")
        if not inputs:
            raise InputError("no input recordings; give WAV files")
        read = [self.frames_of(path) for path in inputs]
        listens = cast(ListensToFrames, model)
        seconds = self.features.frame_seconds * listens.frames_per_position
        results = []
        for (frames, covered), (ids, weights) in zip(read, self.transcribe(model, [f for f, _ in read], decode)):
            positions = int(listens.memory_lengths(torch.tensor([covered]))[0])
            tokens = [self._spelling(t) for t in ids] + ["</s>"]
            results.append(
                Transcript(
                    self.tokenizer.decode(ids, skip_special_tokens=True).strip(),
                    tokens,
                    None if weights is None else weights[..., :positions],
                    frames[: positions * listens.frames_per_position],
                    self.features.frame_seconds,
                    seconds,
                    ids,
                )
            )
        return results
