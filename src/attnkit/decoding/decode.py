"""The one entry point of decoding: token ids in, n-best hypotheses with their attention out.

:func:`decode` takes sources as lists of token ids and a :class:`~attnkit.decoding.options.DecodeOptions`;
it batches them by length, runs greedy decoding (``beam_size == 1``) or beam search under the
asked precision, and gives back each source's hypotheses in input order. It knows no task and no
vocabulary: tokenising before and detokenising after belong to the task
(:meth:`attnkit.tasks.seq2seq.Seq2SeqTask.translate`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ..data import collate, to_device
from ..progress import Progress
from .beam import beam_search
from .greedy import Hypothesis, greedy_decode
from .options import DecodeOptions
from .speed import prepare

__all__ = ["decode", "batches"]


def decode(
    model: nn.Module,
    sources: Sequence[Sequence[int]],
    options: DecodeOptions = DecodeOptions(),
    *,
    max_len: Callable[[int], int],
    prefix: Sequence[int] = (),
) -> list[list[Hypothesis]]:
    """Decode every source, in batches of similar length, greedily (``options.beam_size == 1``)
    or with beam search.

    Args:
        model: a trained model (put in eval mode here) with ``encode`` / ``init_state`` / ``step``.
        sources: source token ids, one list per source (no padding, no ``</s>`` added).
        options: beam size, n-best, penalties, stop rule, precision (``"bf16"``: bfloat16
            autocast), batching (``batch_size`` sources and ``batch_tokens`` padded source
            tokens per batch, beams included: B * beam_size * the longest Tk) and the speed
            options (``check_every``, ``kv_cache``, ``compile_step``, ``quantize``: see
            :class:`DecodeOptions` and :func:`attnkit.decoding.speed.prepare`).
        max_len: the most output tokens (without ``</s>``) for a batch whose longest source has
            n tokens; ``options.max_len``, when set, wins.
        prefix: tokens every output starts with after ``<s>``, fed and not scored (a model's
            prompt; see :func:`greedy_decode`); default none.

    Progress (sentences, rate, ETA) goes to a bar on a terminal, else to a log line at
    intervals (:mod:`attnkit.progress`).

    Raises:
        DecodeOptionError: for ``quantize="int8"`` with a model that is not on the CPU.

    Returns:
        Per source, in input order, its hypotheses best first: one when greedy, up to
        ``options.n_best`` with beam search. Each has its tokens (no ``</s>``), its score (sum of
        log-probabilities, ``</s>`` included) and its weights on the CPU, (To, Tk) or per head
        (Nh, To, Tk) with To = len(tokens) + 1 and Tk = len(source), or None without attention.
    """
    if not sources:
        return []
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list[list[Hypothesis]] = [[] for _ in sources]
    model.eval()
    device = next(model.parameters()).device
    model = prepare(model, options)  # int8 copy and/or compiled step, when asked
    budget = None if options.batch_tokens is None else max(1, options.batch_tokens // options.beam_size)
    desc = "decode" if options.beam_size == 1 else f"decode (beam {options.beam_size})"
    with Progress(len(sources), desc=desc, unit="sentence") as bar:
        for chunk in batches(order, [len(s) for s in sources], options.batch_size, budget):
            batch = to_device(collate([list(sources[i]) for i in chunk]), device)
            steps = options.max_len or max_len(int(batch.src_lengths.max()))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.precision == "bf16"):
                if options.beam_size > 1:
                    nbests = beam_search(model, batch.src, batch.src_lengths, steps, options, prefix=prefix)
                else:
                    hyps_ = greedy_decode(
                        model,
                        batch.src,
                        batch.src_lengths,
                        steps,
                        prefix=prefix,
                        check_every=options.check_every,
                        static_cache=options.kv_cache == "static",
                    )
                    nbests = [[hyp] for hyp in hyps_]
            for i, hyps in zip(chunk, nbests):
                results[i] = [h if h.weights is None else h._replace(weights=h.weights.cpu()) for h in hyps]
            bar.update(len(chunk))
    return results


def batches(order: list[int], lengths: list[int], batch_size: int, batch_tokens: int | None) -> list[list[int]]:
    """Consecutive runs of `order` (sorted by length) with at most `batch_size` items and, if
    given, at most `batch_tokens` padded tokens (items x longest); one item per batch at least."""
    out: list[list[int]] = []
    for i in order:
        if (
            out
            and len(out[-1]) < batch_size
            and (batch_tokens is None or (len(out[-1]) + 1) * max(lengths[i], lengths[out[-1][0]]) <= batch_tokens)
        ):
            out[-1].append(i)
        else:
            out.append([i])
    return out
