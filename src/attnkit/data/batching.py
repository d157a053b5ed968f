"""Turning lists of token ids into padded batch tensors."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor

from .vocab import Vocab

__all__ = ["Batch", "collate", "pad"]


class Batch(NamedTuple):
    src: Tensor  # (B, Tk) source ids, padded with pad_id
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, Tq) <s> y_1 ... y_{n}, padded
    tgt_out: Tensor  # (B, Tq) y_1 ... y_n </s>, padded
    n_tokens: int  # real target tokens (including </s>)


def pad(seqs: Sequence[Sequence[int]], pad_id: int = Vocab.pad_id) -> Tensor:
    """(B, T) long tensor of `seqs`, right-padded with `pad_id` to the longest."""
    width = max((len(s) for s in seqs), default=0)
    out = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def collate(src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]] | None = None) -> Batch:
    """Pad a batch of source (and target) id sequences; targets get <s> and </s> added."""
    src_t = pad(src)
    lengths = torch.tensor([len(s) for s in src], dtype=torch.long)
    if tgt is None:
        empty = torch.zeros(len(src), 0, dtype=torch.long)
        return Batch(src_t, lengths, empty, empty, 0)
    tgt_in = pad([[Vocab.bos_id, *t] for t in tgt])
    tgt_out = pad([[*t, Vocab.eos_id] for t in tgt])
    return Batch(src_t, lengths, tgt_in, tgt_out, sum(len(t) + 1 for t in tgt))
