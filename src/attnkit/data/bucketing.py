"""Token-based batches of similar-length examples: resumable by (epoch, position) and shardable.

Machine translation batches are sized in tokens, not sentences: a batch of 300 short sentences
and one of 20 long ones cost about the same. :class:`TokenBatchSampler` puts examples of similar
length together (so little of each batch is padding) and fills each batch up to ``max_tokens``.

**Cost rule.** A batch of n examples costs ``n * max(max_src, max_tgt)``, where ``max_src`` and
``max_tgt`` are the longest source and target lengths in it: the size of the larger of the two
padded tensors, as fairseq's ``max_tokens``. So both the padded source (B, Tk) and the padded
target (B, Tq) hold at most ``max_tokens`` positions, padding included. Pass the lengths the
tensors will have (e.g. target length + 1 if ``<s>``/``</s>`` are added). One example longer
than ``max_tokens`` on its own gets a batch of its own, which is then over the limit; it is
never dropped or cut.

**Resuming.** ``batches(epoch)`` is a pure function of the constructor arguments and `epoch`
(the random order comes from a generator seeded with ``(seed, epoch)``, nothing else), so a
trainer stores ``(epoch, position)`` and resumes with ``batches(epoch)[position:]``.

**Distributed training: two ways.**

1. *Shard the batches* (``num_shards=N, shard=r``): each rank runs its own batches; batch i of
   shard r is batch ``i * N + r`` of the global list, so at step i the N ranks together process
   the N consecutive global batches ``i*N .. i*N + N-1`` (effective batch: N x max_tokens). Every
   shard gets the same number of batches: with ``drop_last=True`` the last ``G % N`` global
   batches are dropped; otherwise the list is padded to a multiple of N by repeating its first
   ``N - G % N`` batches (some examples are then seen twice that epoch).
2. *Split one global batch* (``num_shards=1`` everywhere, then :func:`split_batch`): every rank
   computes the same global batches and takes its share of each; together the ranks process
   exactly the batches one process would, so the loss trajectory can match a single process
   (sum the per-rank token losses and token counts before dividing). A sub-batch is empty when
   the batch has fewer than N examples, and the trainer must allow for that.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["TokenBatchSampler", "split_batch", "padding_share"]


class TokenBatchSampler:
    """Batches of example indices under a padded-token budget, with similar lengths together.

    Each epoch: examples are ordered by bucket ``max(src_len, tgt_len) // bucket_width`` and,
    within a bucket, randomly; the ordered list is cut greedily into batches whose cost (module
    docs) stays within `max_tokens`; then the order of the batches is shuffled. A wider bucket
    mixes lengths more (more randomness, more padding); ``bucket_width=1`` sorts by exact length
    with random ties. With ``shuffle=False`` examples are sorted by length (ties by index), the
    batches stay in that order and `seed` and `epoch` have no effect (for validation and
    translation).

    Args:
        src_lengths: source length of each example, in tokens, (N,).
        tgt_lengths: target length of each example, in tokens, (N,).
        max_tokens: budget per batch: ``n * max(max_src, max_tgt) <= max_tokens``.
        seed: non-negative seed of the random order; with `epoch` it fixes the batches.
        shuffle: randomise composition (within buckets) and batch order; see above.
        bucket_width: length range of a bucket, in tokens (>= 1).
        num_shards: number of shards (ranks) the global batch list is dealt to.
        shard: this shard's index, in [0, num_shards).
        drop_last: when the number of global batches is not a multiple of `num_shards`, drop
            the remainder instead of repeating batches to fill the last step. No effect when
            ``num_shards == 1``.

    Raises:
        ValueError: if the lengths differ in number or are not non-negative integers, or an
            option is out of range.
    """

    def __init__(
        self,
        src_lengths: Sequence[int],
        tgt_lengths: Sequence[int],
        *,
        max_tokens: int,
        seed: int,
        shuffle: bool = True,
        bucket_width: int = 1,
        num_shards: int = 1,
        shard: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.src_lengths = _lengths(src_lengths, "src_lengths")
        self.tgt_lengths = _lengths(tgt_lengths, "tgt_lengths")
        if len(self.src_lengths) != len(self.tgt_lengths):
            raise ValueError(
                f"src_lengths has {len(self.src_lengths)} entries but tgt_lengths has "
                f"{len(self.tgt_lengths)}; give one source and one target length per example"
            )
        for name, value, low in (
            ("max_tokens", max_tokens, 1),
            ("seed", seed, 0),
            ("bucket_width", bucket_width, 1),
            ("num_shards", num_shards, 1),
        ):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(shard, (int, np.integer)) or not 0 <= shard < num_shards:
            raise ValueError(f"shard must be in [0, {num_shards}) for num_shards={num_shards}, got {shard!r}")
        self.max_tokens, self.seed, self.bucket_width = int(max_tokens), int(seed), int(bucket_width)
        self.num_shards, self.shard = int(num_shards), int(shard)
        self.shuffle, self.drop_last = shuffle, drop_last

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every batch of `epoch` before sharding, in training order (each example exactly once).

        Raises:
            ValueError: if `epoch` is negative.
        """
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
        longest = np.maximum(self.src_lengths, self.tgt_lengths)  # (N,)
        if not self.shuffle:
            order = np.argsort(longest, kind="stable")
            return _greedy(order.tolist(), longest.tolist(), self.max_tokens)
        rng = np.random.default_rng([self.seed, int(epoch)])
        ties = rng.permutation(len(longest))
        order = np.lexsort((ties, longest // self.bucket_width))  # by bucket, then randomly
        batches = _greedy(order.tolist(), longest.tolist(), self.max_tokens)
        return [batches[i] for i in rng.permutation(len(batches))]

    def batches(self, epoch: int) -> list[list[int]]:
        """This shard's batches of `epoch`: batch i is global batch ``i * num_shards + shard``.

        A pure function of the constructor arguments and `epoch`; every shard gets the same number
        of batches (see `drop_last`). With one shard and no dropping, every example appears once.

        Raises:
            ValueError: if `epoch` is negative.
        """
        batches = self.global_batches(epoch)
        if self.num_shards == 1 or not batches:
            return batches
        remainder = len(batches) % self.num_shards
        if self.drop_last:
            batches = batches[: len(batches) - remainder]
        elif remainder:
            batches = batches + [batches[i % len(batches)] for i in range(self.num_shards - remainder)]
        return batches[self.shard :: self.num_shards]

    def __repr__(self) -> str:
        return (
            f"TokenBatchSampler(n={len(self.src_lengths)}, max_tokens={self.max_tokens}, seed={self.seed}, "
            f"shuffle={self.shuffle}, bucket_width={self.bucket_width}, num_shards={self.num_shards}, "
            f"shard={self.shard}, drop_last={self.drop_last})"
        )


def split_batch(batch: Sequence[int], num_shards: int, shard: int) -> list[int]:
    """This shard's share of one global batch: every `num_shards`-th example from `shard`.

    The N shares are disjoint, cover the batch, and differ in size by at most one example; a
    share is empty when the batch has fewer than `num_shards` examples.

    Args:
        batch: example indices of one global batch.
        num_shards: number of ranks splitting it (>= 1).
        shard: this rank, in [0, num_shards).

    Returns:
        The indices of this rank's sub-batch, in batch order.

    Raises:
        ValueError: if `num_shards` or `shard` is out of range.
    """
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(
            f"need num_shards >= 1 and 0 <= shard < num_shards, got num_shards={num_shards}, shard={shard}"
        )
    return [int(i) for i in batch[shard::num_shards]]


def padding_share(batches: Sequence[Sequence[int]], src_lengths: Sequence[int], tgt_lengths: Sequence[int]) -> float:
    """Share of padding in the padded source and target tensors of `batches`, in [0, 1].

    Each batch pads its sources to its longest source and its targets to its longest target
    (as ``collate`` does); the share is padded positions over all positions of both tensors,
    summed over the batches. 0.0 for no batches or no positions.

    Args:
        batches: lists of example indices.
        src_lengths: source length of each example, in tokens, (N,).
        tgt_lengths: target length of each example, in tokens, (N,).
    """
    src, tgt = np.asarray(src_lengths), np.asarray(tgt_lengths)
    total = real = 0
    for batch in batches:
        idx = np.asarray(batch, dtype=np.int64)
        if idx.size:
            total += idx.size * (int(src[idx].max()) + int(tgt[idx].max()))
            real += int(src[idx].sum()) + int(tgt[idx].sum())
    return (total - real) / total if total else 0.0


def _lengths(values: Sequence[int], name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and (not np.issubdtype(array.dtype, np.integer) or array.min() < 0)):
        raise ValueError(
            f"{name} must be a flat sequence of non-negative integer lengths, got dtype "
            f"{array.dtype} and shape {array.shape}"
        )
    return array.astype(np.int64)


def _greedy(order: list[int], longest: list[int], max_tokens: int) -> list[list[int]]:
    """Cut `order` into consecutive batches while ``n * max(longest) <= max_tokens``."""
    batches: list[list[int]] = []
    batch: list[int] = []
    width = 0
    for i in order:
        new_width = max(width, longest[i])
        if batch and (len(batch) + 1) * new_width > max_tokens:
            batches.append(batch)
            batch, new_width = [], longest[i]
        batch.append(i)
        width = new_width
    if batch:
        batches.append(batch)
    return batches
