"""Self-attention keys and values for incremental Transformer decoding, in preallocated buffers
that the beams of a sentence share.

A decoder step appends one position to every layer's keys and values. Concatenating them anew
at every step copies the whole cache each time, and beam search copies it once more to reorder
the beams; at beam 5 these copies took longer than the attention itself. Here a step writes its
position in place, and the k beams of a sentence keep their keys and values in one buffer of k
slots per position. A step attends with a mask of the slots each row may see (its own prefix),
which the caller gives. Reordering beams changes that mask, not the keys and values. Attending a
sentence's k queries to all its k * T slots costs k times the score arithmetic of k separate
caches, which at these sizes is far less than the copies it saves.

What is here and what is not: this module holds the cache's memory layout (slot s * k + i is
position s of the row that was beam i at step s), how it grows and how a step writes into it.
That layout belongs to the model: the attention reads it, and greedy decoding and training-time
checks use the same buffers with k = 1. Which hypothesis descends from which, and therefore
which slots each row may attend to, is beam-search bookkeeping and lives in
:mod:`attnkit.decoding.beam_state` (``BeamAncestry``). The model receives that mask as the
``visible`` argument of ``TransformerSeq2Seq.step``.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from ..nn.multihead import KVCache

__all__ = ["TransformerState"]


class TransformerState(NamedTuple):
    """Decoder self-attention keys and values of the positions decoded so far, and the number
    of positions.

    A state is consumed by the step it is passed to: the step writes into the same buffers and
    returns the state to use next.

    Fields:
        caches: per decoder layer, buffers (S, Nkv, C * k, Dh) for S batch rows (sentences when
            k > 1), room for C positions and k beams per row; slot s * k + i holds position s of
            the row that was beam i at step s. Only the first ``position * k`` slots are filled.
        position: positions decoded so far, T.
        beams: decoder rows per batch row of the buffers, k (1 unless the memory was folded
            with ``TransformerSeq2Seq.fold_beams``).
    """

    caches: tuple[KVCache, ...]
    position: int
    beams: int = 1

    @classmethod
    def empty(
        cls, layers: int, sentences: int, beams: int, kv_heads: int, head_dim: int, like: Tensor, capacity: int = 16
    ) -> "TransformerState":
        """A state with no positions and room for `capacity` of them; dtype and device of `like`."""
        shape = (sentences, kv_heads, capacity * beams, head_dim)
        caches = tuple(KVCache(like.new_zeros(shape), like.new_zeros(shape)) for _ in range(layers))
        return cls(caches, 0, beams)

    @property
    def capacity(self) -> int:
        """Positions the buffers hold before they grow, C."""
        return self.caches[0].keys.shape[2] // self.beams if self.caches else 0

    def cached(self, layer: int) -> KVCache:
        """The filled part of a layer's keys and values, (S, Nkv, T * k, Dh)."""
        keys, values = self.caches[layer]
        n = self.position * self.beams
        return KVCache(keys[:, :, :n], values[:, :, :n])

    def select(self, index: Tensor) -> "TransformerState":
        """Keep batch rows `index` (S',) of the buffers, in that order: decoder rows when k = 1
        (to reorder beams or drop finished rows), sentences with all their k slots when k > 1
        (to drop finished sentences; reordering a sentence's beams changes only the slot mask,
        see :class:`attnkit.decoding.beam_state.BeamAncestry`). Copies the filled buffers."""
        return self._replace(
            caches=tuple(KVCache(c.keys.index_select(0, index), c.values.index_select(0, index)) for c in self.caches)
        )

    def reserve(self, steps: int) -> "TransformerState":
        """Room for `steps` more positions, doubling the buffers if need be (to at least
        ``position + steps``)."""
        if self.position + steps > self.capacity:
            return self._grown(max(2 * self.capacity, self.position + steps))
        return self

    def write(self, layer: int, kv: KVCache) -> KVCache:
        """Store the new positions' keys and values (R, Nkv, Tq, Dh) of one layer, R = S * k
        rows, in place; call :meth:`reserve` first.

        Returns:
            The keys and values to attend to, (S, Nkv, (T + Tq) * k, Dh): with k = 1 every query
            may see the slots up to its own position (causal); with k > 1 a row may see only the
            slots of its own prefix, which the caller's mask says.

        Raises:
            ValueError: for more than one new position with k > 1 beams.
        """
        keys, values = self.caches[layer]
        t, k, tq = self.position, self.beams, kv.keys.shape[2]
        if k == 1:
            keys[:, :, t : t + tq] = kv.keys
            values[:, :, t : t + tq] = kv.values
            return KVCache(keys[:, :, : t + tq], values[:, :, : t + tq])
        if tq != 1:
            raise ValueError(f"with beams={k}, decode one position per step, got {tq}")
        sentences, heads, dh = keys.shape[0], keys.shape[1], keys.shape[3]
        keys[:, :, t * k : (t + 1) * k] = kv.keys.view(sentences, k, heads, dh).transpose(1, 2)
        values[:, :, t * k : (t + 1) * k] = kv.values.view(sentences, k, heads, dh).transpose(1, 2)
        n = (t + 1) * k
        return KVCache(keys[:, :, :n], values[:, :, :n])

    def advanced(self, steps: int) -> "TransformerState":
        return self._replace(position=self.position + steps)

    def _grown(self, capacity: int) -> "TransformerState":
        n = self.position * self.beams
        caches = []
        for keys, values in self.caches:
            shape = (keys.shape[0], keys.shape[1], capacity * self.beams, keys.shape[3])
            new_k, new_v = keys.new_zeros(shape), values.new_zeros(shape)
            new_k[:, :, :n], new_v[:, :, :n] = keys[:, :, :n], values[:, :, :n]
            caches.append(KVCache(new_k, new_v))
        return self._replace(caches=tuple(caches))
