"""Turning lists of token ids into padded batch tensors; shuffled size-sorted batches; moving a
batch to a device."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor

from .vocab import Vocab

__all__ = ["Batch", "collate", "pad", "bucket_batches", "to_device"]


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


def bucket_batches(sizes: Sequence[float], batch_size: int, bucket: int, generator: torch.Generator) -> list[list[int]]:
    """Mini-batches of indices into `sizes`, similar sizes together, in random order.

    Args:
        sizes: a size per item (e.g. padded words of a document); only their order matters.
        batch_size: items per batch (the last batch of a pool may be smaller).
        bucket: batches per pool of sorted items; 1 gives plain shuffled batches.
        generator: source of the randomness.

    Returns:
        Batches that together hold every index exactly once.
    """
    order = torch.randperm(len(sizes), generator=generator).tolist()
    pool = batch_size * bucket
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        if bucket > 1:
            chunk.sort(key=lambda i: sizes[i])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def to_device(batch: Any, device: torch.device | str) -> Any:
    """`batch` with every tensor moved to `device`: a tensor, or a NamedTuple/tuple/list/dict of
    tensors and other values (left as they are). A no-op on the device the tensors are on."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(x, device) for x in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(x, device) for x in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
