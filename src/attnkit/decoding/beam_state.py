"""Beam-search bookkeeping over a model's decoder state: which hypothesis descends from which.

The models own their caches and how a step reads and writes them; this module decides which rows
those caches serve. That means expanding the encoder memory to k rows per sentence, reordering
states by back-pointers, dropping the rows of finished sentences, and, for models whose beams
share self-attention slots (the Transformer's
:class:`~attnkit.models.decoder_cache.TransformerState`), the ancestry table that says which
slots each hypothesis may attend to.

The split, for the Transformer:

- *models* (:mod:`attnkit.models.decoder_cache`): the key/value buffers of k slots per position
  (slot s * k + i holds position s of the row that was beam i at step s), growing them, writing a
  step's position in place, and attending with the slot mask the step is given. That is the
  cache's memory layout, which the attention kernels read. A model also needs it for greedy
  decoding and for k = 1, where no beams exist.
- *decoding* (here): the mask itself. :class:`BeamAncestry` opens each row's new slot before a
  step and gathers its rows when beams are reordered. Reordering beams therefore changes
  (S, k, C * k) booleans, not the keys and values. :class:`BeamStates` drives either kind of
  model through one interface.

A model "folds beams" when it has ``fold_beams(memory, k)``. Such a model takes this interface:

- ``init_state(fold_beams(memory, k))`` has one batch row per sentence, and its ``capacity`` is
  the number of positions its buffers hold;
- ``step(prev_tokens (S * k,), state, memory, *, visible)``, where `visible` is (S, k, >= (T + 1)
  * k) bool, True where row j of a sentence may attend to a slot at T positions decoded so far,
  or None when k = 1 (causal);
- ``state.select(sentences)`` keeps sentences (all of their k rows).

Any other model's state has ``select(rows)`` over its B * k rows, and its memory is copied k
times by :func:`select_rows`.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn

from .protocols import FoldsBeams, ReservesPositions, StepDecoder

__all__ = ["select_rows", "BeamAncestry", "BeamStates"]


def select_rows(obj: Any, index: Tensor) -> Any:
    """Index every tensor in `obj` (tensors, tuples, NamedTuples, None, ints) along dim 0: to
    expand an encoder memory to k rows per sentence, or to drop finished rows.

    Args:
        obj: a tensor, or a (named) tuple of them, each with its batch rows first; other values
            (None, a decoded-position counter) are kept as they are.
        index: rows to keep, in that order, (B',) long.

    Returns:
        `obj` with rows `index` of every tensor, of the same type.
    """
    if isinstance(obj, Tensor):
        return obj.index_select(0, index)
    if isinstance(obj, tuple):
        items = [select_rows(x, index) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj


class BeamAncestry:
    """Which of its sentence's shared self-attention slots each hypothesis may attend to.

    The k rows of a sentence share one key/value buffer per layer, with k slots per position:
    slot s * k + i holds position s of the row that was beam i at step s. Row j may attend to the
    slots of its own prefix, one per earlier position (its ancestor's), and to its own new slot.
    ``table[s, j]`` marks them. When beams are reordered, row j of a sentence takes its parent's
    prefix: its table row is gathered, and the keys and values stay where they are.

    Args:
        sentences: sentences S.
        beams: rows per sentence k >= 1.
        capacity: positions C to make room for at first; the table doubles when a step needs more
            (the same rule as the model's buffers, so that the two keep one width).
        device: where the table lives.

    Attributes:
        table: (S, k, C * k) bool, True where a row may attend to a slot. Columns of positions
            not yet decoded are False.
    """

    def __init__(self, sentences: int, beams: int, capacity: int, device: torch.device | str) -> None:
        self.beams = beams
        self.table = torch.zeros(sentences, beams, capacity * beams, dtype=torch.bool, device=device)
        self._own = torch.eye(beams, dtype=torch.bool, device=device)  # row i's slot at a position is the i-th

    @property
    def capacity(self) -> int:
        return self.table.shape[-1] // self.beams

    def open(self, position: int) -> Tensor:
        """Make each row's slot at `position` visible to it, before the step that writes it.

        Args:
            position: the position T that the next step decodes (positions decoded so far).

        Returns:
            The table, (S, k, C * k) with C > T: the `visible` of a model that folds beams.
        """
        if position >= self.capacity:
            self._grow(max(2 * self.capacity, position + 1))
        k = self.beams
        self.table[:, :, position * k : (position + 1) * k] = self._own
        return self.table

    def reorder(self, parents: Tensor) -> None:
        """Row j of sentence s continues row ``parents[s, j]`` of that sentence: it takes that
        row's prefix.

        Args:
            parents: (S, k) long, in [0, k): beam numbers within the sentence.

        Raises:
            ValueError: if `parents` is not (S, k).
        """
        if parents.shape != self.table.shape[:2]:
            raise ValueError(
                f"parents must be (sentences, beams) = {tuple(self.table.shape[:2])}, "
                f"got {tuple(parents.shape)}; number a sentence's beams 0..k-1"
            )
        self.table = self.table.gather(1, parents[:, :, None].expand(-1, -1, self.table.shape[-1]))

    def keep(self, sentences: Tensor) -> None:
        """Keep the rows of `sentences` (S',) long, in that order (finished ones leave)."""
        self.table = self.table.index_select(0, sentences)

    def _grow(self, capacity: int) -> None:
        table = self.table.new_zeros(self.table.shape[0], self.beams, capacity * self.beams)
        table[..., : self.table.shape[-1]] = self.table
        self.table = table


class BeamStates:
    """The memory and decoder state of S sentences' k live hypotheses each (rows s * k + j), kept
    in step with beam search's choices.

    A model that folds beams (see the module docstring) keeps one memory row per sentence and
    lets the k rows of a sentence share their self-attention slots. This object then holds their
    :class:`BeamAncestry` and passes it to ``step`` as `visible`; the state's ``select`` is used
    only when sentences leave. Any other model gets its memory copied k times, and its state is
    reordered row by row with ``select(rows)``.

    Args:
        model: a model with ``init_state`` and ``step``, and optionally ``fold_beams``.
        memory: the encoder memory of the S sentences, from ``model.encode``.
        sentences: S.
        beams: k >= 1.
        device: the device of the memory.
        reserve: positions to make room for before the first step, for a state that can
            (:class:`~attnkit.decoding.protocols.ReservesPositions`); None: grow as needed.

    Attributes:
        memory: the memory that ``step`` takes (folded, or k rows per sentence).
        state: the decoder state for the next step.
    """

    def __init__(
        self,
        model: nn.Module,
        memory: Any,
        sentences: int,
        beams: int,
        device: torch.device | str,
        *,
        reserve: int | None = None,
    ) -> None:
        # a family declaring decodes=True has encode / init_state / step (checked at load)
        self.model: StepDecoder = cast(StepDecoder, model)
        self.beams = beams
        self.folded = hasattr(model, "fold_beams")
        self.memory = (
            cast(FoldsBeams, model).fold_beams(memory, beams)
            if self.folded
            else select_rows(memory, torch.arange(sentences, device=device).repeat_interleave(beams))
        )
        self.state = self.model.init_state(self.memory)
        if reserve is not None and isinstance(self.state, ReservesPositions):
            self.state = self.state.reserve(reserve)
        self.ancestry = (
            BeamAncestry(sentences, beams, self.state.capacity, device) if self.folded and beams > 1 else None
        )

    def step(self, prev_tokens: Tensor, position: int) -> tuple[Tensor, Tensor | None]:
        """One decoder step of every row.

        Args:
            prev_tokens: each row's previous token, (S * k,).
            position: positions decoded so far, T.

        Returns:
            Log-probabilities (S * k, V) and the step's attention weights, as ``model.step``
            gives them ((S * k, [Nh,] Tk) or None).
        """
        if self.folded:
            visible = None if self.ancestry is None else self.ancestry.open(position)
            folding = cast(FoldsBeams, self.model)
            logprobs, self.state, weights = folding.step(prev_tokens, self.state, self.memory, visible=visible)
        else:
            logprobs, self.state, weights = self.model.step(prev_tokens, self.state, self.memory)
        return logprobs, weights

    def advance(self, rows: Tensor, stay: Tensor | None = None) -> None:
        """Reorder the rows for the next step, and drop the sentences not in `stay`.

        Args:
            rows: (S' * k,) long: for each row of the next step, the row of this step it
                continues, numbered as in this step. Rows come in groups of k per sentence, in the
                order of `stay`, and each names a row of its own sentence. That is not checked,
                because checking costs a device synchronisation per step; only the row's beam
                number within its sentence, ``rows % k``, is used for models that fold beams.
            stay: (S',) long, the sentences kept (their place in this step's batch, ascending),
                or None to keep all.

        Raises:
            ValueError: if `rows` is not k per kept sentence.
        """
        k = self.beams
        if stay is not None:
            self.memory = select_rows(
                self.memory, stay if self.folded else (stay[:, None] * k + torch.arange(k, device=stay.device)).view(-1)
            )
        if not self.folded:
            self.state = self.state.select(rows)
            return
        if stay is not None:
            self.state = self.state.select(stay)
            if self.ancestry is not None:
                self.ancestry.keep(stay)
        if self.ancestry is not None:
            if rows.numel() != self.ancestry.table.shape[0] * k:
                raise ValueError(
                    f"need {k} rows per kept sentence, got {rows.numel()} rows for "
                    f"{self.ancestry.table.shape[0]} sentences; pass `stay` when sentences leave"
                )
            self.ancestry.reorder(rows.view(-1, k) % k)
