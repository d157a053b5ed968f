"""Translate raw sentences with a trained model and task: encode, batch, greedy-decode, detokenise."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from ..data import collate, to_device
from ..predictions import TEXT_ALIGNMENT
from .beam import STOP_RULES, beam_search
from .greedy import greedy_decode

__all__ = ["Translation", "ScoredTranslation", "translate", "translate_nbest", "PRECISIONS"]


class Translation(NamedTuple):
    kind = TEXT_ALIGNMENT  # a class attribute (not a field): the prediction's kind
    output: str  # detokenised hypothesis
    src_tokens: list[str]  # source tokens as the model saw them (locale tag first)
    out_tokens: list[str]  # output tokens, then "</s>"
    weights: Tensor | None  # (To, Tk) = (len(out_tokens), len(src_tokens)), or per head (Nh, To, Tk)
    n_unknown: int  # source tokens that mapped to <unk>


def translate(model: nn.Module, task, sources: Sequence[tuple[str, str]], *,
              batch_size: int = 512, batch_tokens: int | None = 8000, max_len: int | None = None,
              beam_size: int = 1,
              alpha: float = 0.6, beta: float = 0.0, stop: str = "heuristic",
              precision: str = "fp32") -> list[Translation]:
    """Translate (text, locale) pairs, in order, in batches of similar length, greedily
    (``beam_size=1``) or with beam search.

    Args:
        model: a trained model in eval mode.
        task: the task that built the model's vocabularies (e.g. :class:`attnkit.tasks.DateTask`).
        sources: (text, locale) pairs.
        batch_size: at most this many sentences per batch.
        batch_tokens: also at most this many source tokens per batch, padding and beams
            included (B * beam_size * the longest Tk), so that long sentences come in smaller
            batches; None: no such limit.
        max_len: maximum output tokens; defaults to ``task.output_limit(n)`` for the longest
            source of n tokens in each batch when the task has one (translation: 2 n + 10), else
            ``task.max_target_len``.
        beam_size: 1 for greedy decoding, k > 1 for beam search with k beams.
        alpha: length-penalty exponent of beam search (ignored when greedy).
        beta: coverage-penalty weight of beam search (ignored when greedy).
        stop: when beam search ends a sentence, ``"heuristic"`` or ``"exact"`` (see
            :func:`~attnkit.decoding.beam_search`).
        precision: ``"fp32"``, or ``"bf16"`` for bfloat16 autocast (matrix products in
            bfloat16, softmax and norms in float32; what ``train.precision: bf16`` trains with).

    Returns:
        One :class:`Translation` per source, in input order. Its weights are the decoder's:
        (To, Tk) for RNN models, per head (Nh, To, Tk) for multi-head models (the
        Transformer's last layer), None without attention; pick one map with
        :func:`attnkit.heads.select_heads`.

    Raises:
        attnkit.tasks.InputError: for an input the task rejects (checked for all inputs before
            any decoding).
        ValueError: for beam_size < 1, alpha < 0, beta < 0, or an unknown `stop` or `precision`.
    """
    if beam_size < 1 or alpha < 0 or beta < 0:
        raise ValueError(f"need beam_size >= 1, alpha >= 0 and beta >= 0, got {beam_size}, {alpha}, {beta}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if stop not in STOP_RULES:
        raise ValueError(f"stop must be 'heuristic' or 'exact', got {stop!r}")
    tokens = [task.source_tokens(text, locale) for text, locale in sources]
    ids = [task.src_vocab.encode(t) for t in tokens]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    results: list[Translation | None] = [None] * len(ids)
    limit = getattr(task, "output_limit", None)
    model.eval()
    device = next(model.parameters()).device
    budget = None if batch_tokens is None else max(1, batch_tokens // beam_size)
    for chunk in _batches(order, [len(x) for x in ids], batch_size, budget):
        batch = to_device(collate([ids[i] for i in chunk]), device)
        steps = max_len or (limit(int(batch.src_lengths.max())) if limit else task.max_target_len)
        with torch.autocast(batch.src.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            if beam_size > 1:
                hyps = [nbest[0] for nbest in beam_search(model, batch.src, batch.src_lengths, steps,
                                                          beam_size=beam_size, alpha=alpha, beta=beta, stop=stop)]
            else:
                hyps = greedy_decode(model, batch.src, batch.src_lengths, steps)
        for i, hyp in zip(chunk, hyps):
            out_tokens = [task.tgt_vocab.itos[t] for t in hyp.tokens] + ["</s>"]
            results[i] = Translation(
                task.decode_target(hyp.tokens), tokens[i], out_tokens,
                None if hyp.weights is None else hyp.weights.cpu(),
                sum(t == task.src_vocab.unk_id for t in ids[i]),
            )
    return results  # type: ignore[return-value]


class ScoredTranslation(NamedTuple):
    """One hypothesis of an n-best list: the translation and its beam-search scores."""

    translation: Translation
    score: float  # sum of log-probabilities of the output tokens and </s> (natural log)


def translate_nbest(model: nn.Module, task, text: str, locale: str = "", *, beam_size: int = 5,
                    n_best: int = 5, alpha: float = 0.6, beta: float = 0.0, stop: str = "heuristic",
                    max_len: int | None = None) -> list[ScoredTranslation]:
    """The `n_best` best hypotheses of beam search for one source, best first, each with its
    own alignment weights (the n-best list that :func:`translate` cuts to its first entry).

    Args:
        model: a trained model in eval mode with ``encode``/``init_state``/``step``.
        task: the task that built the model's vocabularies.
        text, locale: the raw source and its locale (``""`` for tasks without locales).
        beam_size: k >= 1 live hypotheses.
        n_best: 1 <= n_best <= k hypotheses returned (fewer when fewer finished).
        alpha, beta, stop: as :func:`~attnkit.decoding.beam_search` takes them.
        max_len: maximum output tokens; the default as in :func:`translate`.

    Returns:
        Hypotheses best first by the length-normalised score; weights (To, Tk) or per head
        (Nh, To, Tk) as in :class:`Translation`, with To = len(out_tokens).

    Raises:
        attnkit.errors.InputError: for a source the task rejects.
        ValueError: for the arguments :func:`~attnkit.decoding.beam_search` refuses.
    """
    tokens = task.source_tokens(text, locale)
    ids = task.src_vocab.encode(tokens)
    device = next(model.parameters()).device
    batch = to_device(collate([ids]), device)
    limit = getattr(task, "output_limit", None)
    steps = max_len or (limit(len(ids)) if limit else task.max_target_len)
    model.eval()
    hyps = beam_search(model, batch.src, batch.src_lengths, steps, beam_size=beam_size, n_best=n_best,
                       alpha=alpha, beta=beta, stop=stop)[0]
    n_unknown = sum(t == task.src_vocab.unk_id for t in ids)
    return [ScoredTranslation(Translation(task.decode_target(h.tokens), tokens,
                                          [task.tgt_vocab.itos[t] for t in h.tokens] + ["</s>"],
                                          None if h.weights is None else h.weights.cpu(), n_unknown), h.score)
            for h in hyps]


PRECISIONS = ("fp32", "bf16")


def _batches(order: list[int], lengths: list[int], batch_size: int, batch_tokens: int | None) -> list[list[int]]:
    """Consecutive runs of `order` (sorted by length) with at most `batch_size` items and, if
    given, at most `batch_tokens` padded tokens (items x longest); one item per batch at least."""
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < batch_size and (
                batch_tokens is None or (len(out[-1]) + 1) * max(lengths[i], lengths[out[-1][0]]) <= batch_tokens):
            out[-1].append(i)
        else:
            out.append([i])
    return out


class LayerMaps(NamedTuple):
    """Per-layer, per-head weights of one translation, for pictures."""

    cross: Tensor  # (L, Nh, To, Tk): output tokens attending to source tokens
    decoder_self: Tensor  # (L, Nh, To, To)
    encoder_self: Tensor  # (L, Nh, Tk, Tk)


def layer_maps(model: nn.Module, task, translation: Translation) -> LayerMaps:
    """Every layer's and head's attention for one translation, by a teacher-forced pass over the
    hypothesis (for models with ``attention_maps``, e.g. the Transformer).

    Rows follow ``translation.out_tokens``: row t is the step that produced output token t.

    Raises:
        ValueError: if the model has no per-layer attention maps (RNN models: use the
            translation's own ``weights``).
    """
    if not hasattr(model, "attention_maps"):
        raise ValueError("this model has a single attention per step; plot translation.weights instead")
    device = next(model.parameters()).device
    src = torch.tensor([task.src_vocab.encode(translation.src_tokens)], device=device)
    out_ids = task.tgt_vocab.encode(translation.out_tokens)
    tgt_in = torch.tensor([[task.tgt_vocab.bos_id, *out_ids[:-1]]], device=device)
    maps = model.attention_maps(src, torch.tensor([src.shape[1]], device=device), tgt_in)

    def stack(per_layer: list[Tensor]) -> Tensor:
        return torch.stack([w[0] for w in per_layer]).cpu()  # (L, Nh, Tq, Tk)

    return LayerMaps(stack(maps.cross), stack(maps.decoder_self), stack(maps.encoder_self))
