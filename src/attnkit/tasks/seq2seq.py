"""What every sequence-to-sequence task shares: items are (source ids, target ids); batches are
padded with ``<s>``/``</s>`` added (:func:`attnkit.data.collate`); the loss is the teacher-forced
cross-entropy per target token, fused with the output layer where the model allows, plus the
REINFORCE terms of sampled hard attention; evaluation and prediction decode through
:func:`attnkit.decoding.translate` (greedy or beam search), keeping the alignment weights.

A concrete task (:class:`~attnkit.tasks.DateTask`, :class:`~attnkit.tasks.TranslationTask`)
subclasses :class:`Seq2SeqTask` and supplies its data (``build``/``load``/``load_split``), its
tokenisation (``source_tokens``, ``encode_target``, ``decode_target``) and its metrics.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Batch, Vocab, collate
from ..decoding import Translation, translate
from ..errors import InputError
from ..losses import linear_cross_entropy
from ..models.specs import Seq2SeqSpec
from .base import LossContext

__all__ = ["Seq2SeqTask", "DECODING_OPTIONS"]

DECODING_OPTIONS = ("beam_size", "alpha", "beta", "stop", "precision", "batch_size", "batch_tokens")


class Seq2SeqTask:
    """Shared implementation of the :class:`~attnkit.tasks.base.Task` protocol for text-to-text
    tasks. Subclasses set ``src_vocab``, ``tgt_vocab``, ``max_source_len`` and ``max_target_len``
    and define ``source_tokens(text, locale)``, ``encode_target`` and ``decode_target``."""

    loss_unit = "target tokens"
    spec_class = Seq2SeqSpec
    src_vocab: Vocab
    tgt_vocab: Vocab
    max_source_len: int
    max_target_len: int
    src_offset = 0  # source position of the first token of the text itself

    @property
    def spec(self) -> Seq2SeqSpec:
        return Seq2SeqSpec(len(self.src_vocab), len(self.tgt_vocab),
                           max(self.max_source_len + 1, self.max_target_len + 2), Vocab.pad_id)

    def encode_source(self, text: str, locale: str = "") -> list[int]:
        return self.src_vocab.encode(self.source_tokens(text, locale))

    def pairs(self, examples: Sequence) -> tuple[list[list[int]], list[list[int]]]:
        """Source and target ids of `examples`."""
        return ([self.encode_source(e.text, e.locale) for e in examples],
                [self.encode_target(e.target) for e in examples])

    def encode(self, examples: Sequence) -> list[tuple[list[int], list[int]]]:
        return list(zip(*self.pairs(examples)))

    @staticmethod
    def lengths(item: tuple[list[int], list[int]]) -> tuple[int, int]:
        return len(item[0]), len(item[1]) + 1  # + </s>

    @staticmethod
    def loss_weight(item: tuple[list[int], list[int]]) -> int:
        return len(item[1]) + 1  # real target tokens, </s> included, as collate counts

    @staticmethod
    def collate(items: Sequence[tuple[list[int], list[int]]]) -> Batch:
        return collate([s for s, _ in items], [t for _, t in items])

    @staticmethod
    def loss(model: nn.Module, batch: Batch, ctx: LossContext) -> Tensor:
        """Summed cross-entropy over real target tokens (teacher forcing), with label smoothing
        [Szegedy16] arXiv:1512.00567 when ``train.label_smoothing`` > 0; plus the REINFORCE terms
        when the model samples hard attention (the model owns that loss and its reward baseline:
        ``model.reinforce_terms``, :mod:`attnkit.models.reinforce`). For models with a
        linear ``generator`` the output layer and the loss run fused over chunks of tokens
        (:func:`attnkit.losses.linear_cross_entropy`), never building the logits."""
        smoothing = ctx.train.label_smoothing
        generator = getattr(model, "generator", None)
        fused = isinstance(generator, nn.Linear)  # output layer and loss in one chunked pass
        out = model(batch.src, batch.src_lengths, batch.tgt_in, **({"project": False} if fused else {}))
        sampled = getattr(out, "log_prob", None) is not None  # REINFORCE needs per-token losses
        if fused and not sampled:
            return linear_cross_entropy(out[0].flatten(0, 1), generator.weight, generator.bias,
                                        batch.tgt_out.flatten(), ignore_index=Vocab.pad_id,
                                        label_smoothing=smoothing)
        logits = (generator(out[0]) if fused else out[0]).float()  # (B, Tq, V); the loss in float32
        nll = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=Vocab.pad_id,
                              reduction="none", label_smoothing=smoothing).view(batch.tgt_out.shape)
        total = nll.sum()
        if sampled:  # the model's own REINFORCE loss (its reward baseline is model state)
            total = total + model.reinforce_terms(nll.detach(), out, batch.tgt_out != Vocab.pad_id)
        return total

    # --- prediction --------------------------------------------------------------------------
    predict_options: Mapping[str, str] = {}  # option name -> default, for predict(options=...)

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

    def predict(self, model: nn.Module, inputs: Sequence[str], *, options: Mapping[str, str] = {},
                **decoding: Any) -> list[Translation]:
        """Translations of raw lines (greedy, or beam search with ``beam_size`` > 1), each with
        its source and output tokens and alignment weights (:class:`attnkit.decoding.Translation`).

        Raises:
            attnkit.errors.InputError: for an unknown option or a line the task rejects (all
                lines are checked before any is decoded).
        """
        self.check_inputs(inputs, options=options)
        locale = self._check_options(options).get("locale", "")
        return translate(model, self, [(text, locale) for text in inputs], **decoding)

    @staticmethod
    def decoding_options(options: Mapping[str, Any]) -> dict[str, Any]:
        """The decoding keyword arguments among `options` (ValueError for any other)."""
        unknown = sorted(set(options) - set(DECODING_OPTIONS))
        if unknown:
            raise ValueError(f"unknown decoding option {unknown[0]!r}; valid: {', '.join(DECODING_OPTIONS)}")
        return dict(options)
