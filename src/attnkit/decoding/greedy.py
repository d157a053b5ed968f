"""Batched greedy decoding that keeps the alignment weights of every step."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..data import Vocab

__all__ = ["Hypothesis", "greedy_decode", "force_eos"]


class Hypothesis(NamedTuple):
    tokens: list[int]  # output ids, without </s>
    weights: Tensor | None  # (len(tokens) + 1, Tk_b): one row per output token, then one for </s>
    score: float  # sum of log-probabilities of the tokens and </s>


def force_eos(logprobs: Tensor) -> Tensor:
    """Log-probabilities (B, V) with every token but ``</s>`` set to -inf: ends all hypotheses."""
    forced = torch.full_like(logprobs, -math.inf)
    forced[:, Vocab.eos_id] = logprobs[:, Vocab.eos_id]
    return forced


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, src_lengths: Tensor, max_len: int) -> list[Hypothesis]:
    """Pick the most probable token at each step, for a whole batch at once. After `max_len`
    tokens ``</s>`` is forced (its log-probability counts in the score).

    Args:
        model: a model with ``encode``, ``init_state`` and ``step`` (see
            :class:`attnkit.models.Seq2Seq`).
        src: source ids, (B, Tk), padded.
        src_lengths: (B,).
        max_len: maximum number of output tokens (excluding </s>).

    Returns:
        One :class:`Hypothesis` per source sentence, in order; weights are trimmed to the
        sentence's real source length and output length.
    """
    memory = model.encode(src, src_lengths)
    state = model.init_state(memory)
    batch = src.shape[0]
    prev = torch.full((batch,), Vocab.bos_id, dtype=torch.long, device=src.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
    scores = torch.zeros(batch, dtype=torch.float64)
    tokens, weights = [], []
    for t in range(max_len + 1):
        logprobs, state, w = model.step(prev, state, memory)  # (B, V), ..., (B, Tk)
        if t == max_len:
            logprobs = force_eos(logprobs)
        best, prev = logprobs.max(dim=-1)
        scores += torch.where(finished, 0.0, best.double()).cpu()
        prev = prev.masked_fill(finished, Vocab.pad_id)
        tokens.append(prev)
        if w is not None:
            weights.append(w)
        finished |= prev == Vocab.eos_id
        if bool(finished.all()):
            break
    ids = torch.stack(tokens, 1).tolist()  # (B, steps)
    stacked = torch.stack(weights, 1) if weights else None  # (B, steps, Tk)
    out = []
    for b in range(batch):
        seq = ids[b]
        n = seq.index(Vocab.eos_id)  # every row ends with </s>, forced at max_len if need be
        w = None if stacked is None else stacked[b, : n + 1, : int(src_lengths[b])].cpu()
        out.append(Hypothesis(seq[:n], w, float(scores[b])))
    return out
