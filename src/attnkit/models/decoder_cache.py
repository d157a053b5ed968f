"""Self-attention keys and values for incremental Transformer decoding, in preallocated buffers
that the beams of a sentence share.

A decoder step appends one position to every layer's keys and values. Concatenating them anew
at every step copies the whole cache each time, and beam search copies it once more to reorder
the beams; at beam 5 these copies took longer than the attention itself. Here a step writes its
position in place, and the k beams of a sentence keep their keys and values in one buffer of k
slots per position. A table of booleans (``ancestry``) says which slots each beam may attend to:
the slots of its own prefix. Reordering beams reorders that table, not the keys and values.
Attending a sentence's k queries to all its k * T slots costs k times the score arithmetic of
k separate caches, which at these sizes is far less than the copies it saves.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..nn.multihead import KVCache

__all__ = ["TransformerState"]


class TransformerState(NamedTuple):
    """Decoder self-attention keys and values of the positions decoded so far, and the number
    of positions.

    A state is consumed by the step it is passed to: the step writes into the same buffers and
    returns the state to use next.

    Fields:
        caches: per decoder layer, buffers (S, Nkv, C * k, Dh) for S sentences, room for C
            positions and k beams per sentence; slot s * k + i holds position s of the row that
            was beam i at step s. Only the first ``position * k`` slots are filled.
        position: positions decoded so far, T.
        ancestry: (S, k, C * k) bool, True where row j of a sentence may attend to a slot (its
            own prefix), or None when k = 1 (every filled slot is the row's own).
        beams: rows per sentence, k.
    """

    caches: tuple[KVCache, ...]
    position: int
    ancestry: Tensor | None = None
    beams: int = 1

    @classmethod
    def empty(cls, layers: int, sentences: int, beams: int, kv_heads: int, head_dim: int, like: Tensor,
              capacity: int = 16) -> "TransformerState":
        """A state with no positions and room for `capacity` of them; dtype and device of `like`."""
        shape = (sentences, kv_heads, capacity * beams, head_dim)
        caches = tuple(KVCache(like.new_zeros(shape), like.new_zeros(shape)) for _ in range(layers))
        ancestry = None if beams == 1 else torch.zeros(sentences, beams, capacity * beams, dtype=torch.bool,
                                                       device=like.device)
        return cls(caches, 0, ancestry, beams)

    @property
    def capacity(self) -> int:
        return self.caches[0].keys.shape[2] // self.beams if self.caches else 0

    def cached(self, layer: int) -> KVCache:
        """The filled part of a layer's keys and values, (S, Nkv, T * k, Dh)."""
        keys, values = self.caches[layer]
        n = self.position * self.beams
        return KVCache(keys[:, :, :n], values[:, :, :n])

    def select(self, index: Tensor) -> "TransformerState":
        """Keep rows `index` (R',), in that order: to reorder beams or drop finished sentences.

        With k > 1 beams, `index` must come in groups of k rows of one sentence each (what beam
        search passes): a group's sentence is kept, and its rows take the prefixes of the rows
        they name.

        Raises:
            ValueError: with k > 1, if `index` does not come in groups of k rows of one sentence.
        """
        k = self.beams
        if k == 1:
            return self._replace(caches=tuple(KVCache(c.keys.index_select(0, index), c.values.index_select(0, index))
                                              for c in self.caches))
        groups = index.view(-1, k) if index.numel() % k == 0 else None
        sentences = None if groups is None else groups[:, 0] // k
        if groups is None or not bool((groups // k == sentences[:, None]).all()):
            raise ValueError(f"with beams={k}, rows must come in groups of {k} from one sentence each")
        ancestry, caches = self.ancestry, self.caches
        if sentences.numel() != ancestry.shape[0] or not bool((sentences == torch.arange(
                ancestry.shape[0], device=sentences.device)).all()):
            ancestry = ancestry.index_select(0, sentences)
            caches = tuple(KVCache(c.keys.index_select(0, sentences), c.values.index_select(0, sentences))
                           for c in caches)
        local = (groups % k)[:, :, None].expand(-1, -1, ancestry.shape[-1])
        return self._replace(caches=caches, ancestry=ancestry.gather(1, local))

    def reserve(self, steps: int) -> "TransformerState":
        """Room for `steps` more positions (doubling the buffers if need be); with k > 1 beams,
        each row's slot at the next position is made visible to it."""
        state = self
        if self.position + steps > self.capacity:
            state = self._grown(max(2 * self.capacity, self.position + steps))
        if state.ancestry is not None:
            k, t = self.beams, self.position
            state.ancestry[:, :, t * k:(t + 1) * k] = torch.eye(k, dtype=torch.bool, device=state.ancestry.device)
        return state

    def write(self, layer: int, kv: KVCache) -> tuple[KVCache, Tensor | None]:
        """Store the new positions' keys and values (R, Nkv, Tq, Dh) of one layer.

        Returns:
            The keys and values to attend to, (S, Nkv, (T + Tq) * k, Dh), and the mask (S, 1, k,
            (T + Tq) * k) of what each row may see, or None when k = 1 (then every query sees
            the slots up to its own position: causal).

        Raises:
            ValueError: for more than one new position with k > 1 beams.
        """
        keys, values = self.caches[layer]
        t, k, tq = self.position, self.beams, kv.keys.shape[2]
        if k == 1:
            keys[:, :, t:t + tq] = kv.keys
            values[:, :, t:t + tq] = kv.values
            return KVCache(keys[:, :, :t + tq], values[:, :, :t + tq]), None
        if tq != 1:
            raise ValueError(f"with beams={k}, decode one position per step, got {tq}")
        sentences, heads, dh = keys.shape[0], keys.shape[1], keys.shape[3]
        keys[:, :, t * k:(t + 1) * k] = kv.keys.view(sentences, k, heads, dh).transpose(1, 2)
        values[:, :, t * k:(t + 1) * k] = kv.values.view(sentences, k, heads, dh).transpose(1, 2)
        n = (t + 1) * k
        return KVCache(keys[:, :, :n], values[:, :, :n]), self.ancestry[:, None, :, :n]

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
        ancestry = self.ancestry
        if ancestry is not None:
            ancestry = ancestry.new_zeros(ancestry.shape[0], self.beams, capacity * self.beams)
            ancestry[..., :n] = self.ancestry[..., :n]
        return self._replace(caches=tuple(caches), ancestry=ancestry)
