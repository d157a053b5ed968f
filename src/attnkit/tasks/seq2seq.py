"""What every sequence-to-sequence task shares: items are (source ids, target ids); batches are
padded with ``<s>``/``</s>`` added (:func:`attnkit.data.collate`); the loss is the teacher-forced
cross-entropy per target token, fused with the output layer where the model allows, plus the
REINFORCE terms of sampled hard attention; evaluation and prediction tokenise, decode the ids
through :func:`attnkit.decoding.decode` (greedy or beam search, one :class:`DecodeOptions`),
keeping the alignment weights, and detokenise (:meth:`Seq2SeqTask.translate`).

A concrete task (:class:`~attnkit.tasks.DateTask`, :class:`~attnkit.tasks.TranslationTask`)
subclasses :class:`Seq2SeqTask` and supplies its data (``build``/``load``/``load_split``), its
tokenisation (``source_tokens``, ``encode_target``, ``decode_target``) and its metrics.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar, Mapping, Protocol, Sequence, Sized, cast

import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Vocab, collate
from ..decoding import DecodeOptions, ForcedAttention, Translation, forced_weights
from ..decoding import decode as decode_ids
from ..decoding.options import check_max_len
from ..errors import InputError
from ..losses import linear_cross_entropy
from ..models.reinforce import SamplesAttention
from ..models.specs import Seq2SeqSpec
from .base import LossContext

__all__ = ["Seq2SeqTask", "TeacherForcedTask", "TeacherForcedBatch"]


class TeacherForcedBatch(Protocol):
    """What the teacher-forced loss reads of a batch: :class:`attnkit.data.Batch`, or a task's
    batch with more fields (e.g. :class:`~attnkit.tasks.aligned_translation.AlignedBatch`)."""

    @property
    def src(self) -> Tensor: ...  # (B, Tk) ids, or (B, T, n_mels) frames

    @property
    def src_lengths(self) -> Tensor: ...  # (B,)

    @property
    def tgt_in(self) -> Tensor: ...  # (B, Tq)

    @property
    def tgt_out(self) -> Tensor: ...  # (B, Tq)


class TeacherForcedTask:
    """The training half of every task whose output is a token sequence decoded step by step:
    items are (source, target ids), whatever the source is (token ids of a text, frames of a
    recording); the loss is the teacher-forced cross-entropy per target token. Text tasks take
    the rest from :class:`Seq2SeqTask`; :class:`~attnkit.tasks.SpokenDatesTask` only this."""

    loss_unit = "target tokens"

    @staticmethod
    def lengths(item: tuple[Sized, Sequence[int]]) -> tuple[int, int]:
        return len(item[0]), len(item[1]) + 1  # + </s>

    @staticmethod
    def loss_weight(item: tuple[Sized, Sequence[int]]) -> int:
        return len(item[1]) + 1  # real target tokens, </s> included, as collate counts

    def loss(self, model: nn.Module, batch: TeacherForcedBatch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy over real target tokens (teacher forcing), with label smoothing
        [Szegedy16] arXiv:1512.00567 when ``train.label_smoothing`` > 0; plus the REINFORCE terms
        when the model samples hard attention (the model owns that loss and its reward baseline:
        ``model.reinforce_terms``, :mod:`attnkit.models.reinforce`). For models with a
        linear ``generator`` the output layer and the loss run fused over chunks of tokens
        (:func:`attnkit.losses.linear_cross_entropy`), never building the logits."""
        smoothing = ctx.train.label_smoothing
        generator = getattr(model, "generator", None)
        fused = generator if isinstance(generator, nn.Linear) else None  # output layer and loss in one chunked pass
        out = model(batch.src, batch.src_lengths, batch.tgt_in, **({"project": False} if fused is not None else {}))
        sampled = getattr(out, "log_prob", None) is not None  # REINFORCE needs per-token losses
        if fused is not None and not sampled:
            return linear_cross_entropy(
                out[0].flatten(0, 1),
                fused.weight,
                fused.bias,
                batch.tgt_out.flatten(),
                ignore_index=Vocab.pad_id,
                label_smoothing=smoothing,
            )
        logits = (fused(out[0]) if fused is not None else out[0]).float()  # (B, Tq, V); the loss in float32
        nll = F.cross_entropy(
            logits.flatten(0, 1),
            batch.tgt_out.flatten(),
            ignore_index=Vocab.pad_id,
            reduction="none",
            label_smoothing=smoothing,
        ).view(batch.tgt_out.shape)
        total = nll.sum()
        if sampled:  # the model's own REINFORCE loss (its reward baseline is model state)
            terms = cast(SamplesAttention, model).reinforce_terms(nll.detach(), out, batch.tgt_out != Vocab.pad_id)
            if terms is not None:  # None only when nothing was sampled, which `sampled` rules out
                total = total + terms
        return total


class Seq2SeqTask(TeacherForcedTask):
    """Shared implementation of the :class:`~attnkit.tasks.base.Task` protocol for text-to-text
    tasks. Subclasses set ``src_vocab``, ``tgt_vocab``, ``max_source_len`` and ``max_target_len``
    and define ``source_tokens(text, locale)``, ``encode_target`` and ``decode_target``."""

    spec_class = Seq2SeqSpec
    src_vocab: Vocab
    tgt_vocab: Vocab
    max_source_len: int
    src_offset = 0  # source position of the first token of the text itself

    if TYPE_CHECKING:  # what a subclass supplies (declared for the type checker only)
        name: ClassVar[str]

        @property
        def max_target_len(self) -> int: ...  # an attribute or a property

        def source_tokens(self, text: str, locale: str) -> list[str]: ...

        def encode_target(self, target: str) -> list[int]: ...

        def decode_target(self, ids: Sequence[int]) -> str: ...

    @property
    def spec(self) -> Seq2SeqSpec:
        return Seq2SeqSpec(
            len(self.src_vocab),
            len(self.tgt_vocab),
            max(self.max_source_len + 1, self.max_target_len + 2),
            Vocab.pad_id,
        )

    def encode_source(self, text: str, locale: str = "") -> list[int]:
        return self.src_vocab.encode(self.source_tokens(text, locale))

    def pairs(self, examples: Sequence) -> tuple[list[list[int]], list[list[int]]]:
        """Source and target ids of `examples`."""
        return (
            [self.encode_source(e.text, e.locale) for e in examples],
            [self.encode_target(e.target) for e in examples],
        )

    def encode(self, examples: Sequence) -> list[tuple[list[int], list[int]]]:
        return list(zip(*self.pairs(examples)))

    def collate(self, items: Sequence[tuple[list[int], list[int]]]) -> TeacherForcedBatch:
        return collate([s for s, _ in items], [t for _, t in items])

    # --- prediction --------------------------------------------------------------------------
    predict_options: Mapping[str, str] = {}  # option name -> default, for predict(options=...)

    def output_limit(self, n_source_tokens: int) -> int:
        """Most output tokens (without ``</s>``) for a source of `n_source_tokens` tokens; here
        ``max_target_len`` whatever the source (translation overrides it)."""
        return self.max_target_len

    def _check_options(self, options: Mapping[str, str]) -> dict[str, str]:
        unknown = sorted(set(options) - set(self.predict_options))
        if unknown:
            valid = ", ".join(self.predict_options) or "none"
            raise InputError(f"unknown input option {unknown[0]!r} for task {self.name}; valid options: {valid}")
        return {**self.predict_options, **options}

    def check_inputs(self, inputs: Sequence[str], *, options: Mapping[str, str] = {}) -> None:
        """Raise InputError naming the first bad input (and how many are bad) before any decoding."""
        opts = self._check_options(options)
        errors = []
        for i, text in enumerate(inputs, 1):
            try:
                self.source_tokens(text, opts.get("locale", ""))
            except InputError as err:
                errors.append(f"input {i}: {err}" if len(inputs) > 1 else str(err))
        if not inputs:
            raise InputError("no input lines")
        if errors:
            raise InputError(errors[0] + (f" (and {len(errors) - 1} more bad inputs)" if len(errors) > 1 else ""))

    def predict(
        self,
        model: nn.Module,
        inputs: Sequence[str],
        *,
        options: Mapping[str, str] = {},
        decode: DecodeOptions | None = None,
    ) -> list[Translation]:
        """Translations of raw lines (greedy, or beam search with ``decode.beam_size`` > 1), each
        with its source and output tokens, score and alignment weights, and its n-best list
        when ``decode.n_best`` > 1 (:class:`attnkit.decoding.Translation`).

        Args:
            options: the inputs' own options (a date's ``locale``), the same for every input.
            decode: how to decode (None: greedy, the defaults of :class:`DecodeOptions`).

        Raises:
            attnkit.errors.InputError: for an unknown option or a line the task rejects (all
                lines are checked before any is decoded).
        """
        self.check_inputs(inputs, options=options)
        locale = self._check_options(options).get("locale", "")
        return self.translate(model, [(text, locale) for text in inputs], decode)

    def translate(
        self, model: nn.Module, sources: Sequence[tuple[str, str]], decode: DecodeOptions | None = None
    ) -> list[Translation]:
        """Tokenise (text, locale) pairs, decode their ids (:func:`attnkit.decoding.decode`) and
        detokenise: one :class:`Translation` per source, in order, its best hypothesis first
        and, when ``decode.n_best`` > 1, its n-best list in ``nbest``. The weights are the
        decoder's: (To, Tk) for RNN models, per head (Nh, To, Tk) for multi-head models (the
        Transformer's last layer), None without attention.

        Raises:
            attnkit.errors.InputError: for a source the task rejects (before any decoding).
        """
        options = decode or DecodeOptions()
        if options.max_len is not None:
            try:
                positions = self.spec.max_len
            except AttributeError:  # a task that declares no lengths (its model places no positions)
                positions = None
            if positions is not None:
                check_max_len(options, positions - 1)
        tokens = [self.source_tokens(text, locale) for text, locale in sources]
        ids = [self.src_vocab.encode(t) for t in tokens]
        nbests = decode_ids(model, ids, options, max_len=self.output_limit)
        out = []
        for src_tokens, src_ids, hyps in zip(tokens, ids, nbests):
            n_unknown = sum(t == self.src_vocab.unk_id for t in src_ids)
            made = [
                Translation(
                    self.decode_target(h.tokens),
                    src_tokens,
                    [self.tgt_vocab.itos[t] for t in h.tokens] + ["</s>"],
                    h.weights,
                    n_unknown,
                    h.score,
                    (),
                    tuple(src_ids),
                    tuple(h.tokens),
                )
                for h in hyps
            ]
            out.append(dataclasses.replace(made[0], nbest=tuple(made)) if options.n_best > 1 else made[0])
        return out

    def forced_attention(
        self, model: nn.Module, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64, explain: str | None = None
    ) -> list[ForcedAttention]:
        """The model's cross-attention on each (source text, target text) pair, the target fed by
        teacher forcing (:func:`attnkit.decoding.forced_weights`), with the tokens its rows and
        columns stand for; with `explain` (a name in :data:`attnkit.models.explain.EXPLANATIONS`),
        that explanation's source maps instead (:func:`attnkit.decoding.explained_weights`).

        Raises:
            ValueError: if the model has no attention, or cannot be explained.
            attnkit.errors.InputError: for a source the task rejects.
        """
        src_tokens = [self.source_tokens(s, "") for s, _ in pairs]
        src_ids = [self.src_vocab.encode(t) for t in src_tokens]
        tgt_ids = [self.encode_target(t) for _, t in pairs]
        weights = forced_weights(model, list(zip(src_ids, tgt_ids)), batch_size=batch_size, explain=explain)
        return [
            ForcedAttention(src, [self.tgt_vocab.itos[t] for t in tgt], w)
            for src, tgt, w in zip(src_tokens, tgt_ids, weights)
        ]
