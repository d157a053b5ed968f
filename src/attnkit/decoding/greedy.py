"""Batched greedy decoding that keeps the alignment weights of every step."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..data import Vocab

__all__ = ["Hypothesis", "greedy_decode"]


class Hypothesis(NamedTuple):
    tokens: list[int]  # output ids, without </s>
    weights: Tensor | None  # (To, Tk_b): one row per output token, plus one for </s> if emitted
    score: float  # sum of log-probabilities of the chosen tokens (incl. </s> if emitted)


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, src_lengths: Tensor, max_len: int) -> list[Hypothesis]:
    """Pick the most probable token at each step, for a whole batch at once.

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
    cut = torch.zeros(batch, dtype=torch.bool, device=src.device)  # hit max_len without </s>
    tokens, weights = [], []
    for t in range(max_len + 1):
        logprobs, state, w = model.step(prev, state, memory)  # (B, V), ..., (B, Tk)
        best, prev = logprobs.max(dim=-1)
        if t == max_len:  # one step past the limit only to let </s> come: anything else is cut
            counted = ~finished & (prev == Vocab.eos_id)
            prev = torch.where(counted, prev, torch.full_like(prev, Vocab.eos_id))
        else:
            counted = ~finished
        scores += torch.where(counted, best.double(), 0.0).cpu()
        prev = prev.masked_fill(finished, Vocab.pad_id)
        tokens.append(prev)
        if w is not None:
            weights.append(w)
        cut |= (t == max_len) & ~finished & ~counted
        finished |= prev == Vocab.eos_id
        if bool(finished.all()):
            break
    ids = torch.stack(tokens, 1).tolist()  # (B, steps)
    stacked = torch.stack(weights, 1) if weights else None  # (B, steps, Tk)
    out = []
    for b in range(batch):
        seq = ids[b]
        n = seq.index(Vocab.eos_id)  # every row ends with </s>, real or forced at max_len
        rows = n if bool(cut[b]) else n + 1
        w = None if stacked is None else stacked[b, :rows, : int(src_lengths[b])].cpu()
        out.append(Hypothesis(seq[:n], w, float(scores[b])))
    return out
