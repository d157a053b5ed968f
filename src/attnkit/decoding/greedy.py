"""Batched greedy decoding that keeps the alignment weights of every step."""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence, cast

import torch
from torch import Tensor, nn

from ..data import Vocab
from .beam_state import select_rows
from .protocols import ReservesPositions, StepDecoder

__all__ = ["Hypothesis", "greedy_decode", "force_eos"]


class Hypothesis(NamedTuple):
    """One decoded output with the attention it was produced with.

    ``weights`` has one row per output token, then one for ``</s>`` (To = len(tokens) + 1), over
    the sentence's Tk_b real source positions: (To, Tk_b) for single-attention (RNN) models, or
    (Nh, To, Tk_b) per head for multi-head models (the Transformer's last-layer
    cross-attention), never averaged (see :func:`attnkit.heads.select_heads` to pick one map).
    None for models without attention.
    """

    tokens: list[int]  # output ids, without </s>
    weights: Tensor | None  # (To, Tk_b) or (Nh, To, Tk_b), To = len(tokens) + 1
    score: float  # sum of log-probabilities of the tokens and </s>


def force_eos(logprobs: Tensor) -> Tensor:
    """Log-probabilities (B, V) with every token but ``</s>`` set to -inf: ends all hypotheses."""
    forced = torch.full_like(logprobs, -math.inf)
    forced[:, Vocab.eos_id] = logprobs[:, Vocab.eos_id]
    return forced


@torch.no_grad()
def greedy_decode(
    model: nn.Module,
    src: Tensor,
    src_lengths: Tensor,
    max_len: int,
    *,
    prefix: Sequence[int] = (),
    check_every: int = 1,
    static_cache: bool = False,
) -> list[Hypothesis]:
    """Pick the most probable token at each step, for a whole batch at once. After `max_len`
    tokens ``</s>`` is forced (its log-probability counts in the score). Every `check_every`
    steps the loop looks at how many rows have ended: it stops when all have, and once a quarter
    of the rows still decoding have ended, they leave the batch. In between, nothing in the step
    loop waits for the device (ended rows decode padding, which changes no output).

    Args:
        model: a model with ``encode``, ``init_state`` and ``step`` whose decoder state has
            ``select(rows)`` (see :class:`attnkit.models.Seq2Seq`).
        src: source ids, (B, Tk), padded.
        src_lengths: (B,).
        max_len: maximum number of output tokens (excluding </s>).
        prefix: tokens every output starts with after ``<s>`` (a model's prompt, e.g. Whisper's
            language and task tokens): fed to the decoder before the first chosen token, not
            scored, not part of the hypotheses' tokens and weights.
        check_every: steps between looks at the ended rows (each a host synchronisation), >= 1.
        static_cache: reserve the decoder state's buffers for every step before the loop, for
            a state that can (:class:`~attnkit.decoding.protocols.ReservesPositions`).

    Returns:
        One :class:`Hypothesis` per source sentence, in order; weights, (To, Tk_b) or per head
        (Nh, To, Tk_b) as the model's ``step`` gives them ((B, Tk) or (B, Nh, Tk)), are trimmed
        to the sentence's real source length and output length.
    """
    decoder = cast(StepDecoder, model)  # a family declaring decodes=True has these (checked at load)
    memory = decoder.encode(src, src_lengths)
    state = decoder.init_state(memory)
    if static_cache and isinstance(state, ReservesPositions):
        state = state.reserve(len(prefix) + max_len + 1)
    batch, device = src.shape[0], src.device
    prev = torch.full((batch,), Vocab.bos_id, dtype=torch.long, device=device)
    for token in prefix:  # the prompt: its steps' outputs are not used
        _, state, _ = decoder.step(prev, state, memory)
        prev = torch.full_like(prev, token)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    scores = torch.zeros(batch, dtype=torch.float64, device=device)
    alive = torch.arange(batch, device=device)  # sentence of each row still in the batch
    tokens = torch.full((batch, max_len + 1), Vocab.pad_id, dtype=torch.long, device=device)
    weights: Tensor | None = None
    rows: Tensor | slice = slice(None)  # the rows of `alive` in the outputs: all of them until rows leave
    steps = 0
    for t in range(max_len + 1):
        logprobs, state, w = decoder.step(prev, state, memory)  # (R, V), ..., (R, [Nh,] Tk) | None
        if t == max_len:
            logprobs = force_eos(logprobs)
        best, prev = logprobs.max(dim=-1)
        scores[rows] += torch.where(finished, 0.0, best.double())
        prev = prev.masked_fill(finished, Vocab.pad_id)
        tokens[rows, t] = prev
        if w is not None:
            if weights is None:  # (B, [Nh,] To, Tk): a hypothesis' heads come before its steps
                # not zeroed: a row's steps up to its </s> are all written, and nothing after is read
                weights = w.new_empty(batch, *w.shape[1:-1], max_len + 1, w.shape[-1])
            weights[rows, ..., t, :] = w
        steps = t + 1
        finished |= prev == Vocab.eos_id
        if (t + 1) % check_every and t < max_len:
            continue
        n_done = int(finished.sum())
        if n_done == finished.numel():
            break
        if 4 * n_done >= finished.numel():  # drop the ended rows
            keep = (~finished).nonzero().squeeze(1)
            alive, prev, finished = alive[keep], prev[keep], finished[keep]
            rows = alive
            memory = select_rows(memory, keep)
            state = state.select(keep)
    ids = tokens[:, :steps].tolist()
    out = []
    for b in range(batch):
        seq = ids[b]
        n = seq.index(Vocab.eos_id)  # every row ends with </s>, forced at max_len if need be
        w = None if weights is None else weights[b, ..., : n + 1, : int(src_lengths[b])].cpu()
        out.append(Hypothesis(seq[:n], w, float(scores[b])))
    return out
