"""What flows through the RNN encoder-decoders: the encoder's :class:`Memory`, the decoder's
:class:`DecoderState`, the teacher-forced :class:`DecoderOutput`, and the typed outputs of one
decoding step (:class:`DecoderStep` of a decoder, :class:`StepOutput` of the model); and
:func:`float32_steps`, which keeps step-by-step recurrences in float32 under autocast.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, NamedTuple

import torch
from torch import Tensor

__all__ = ["Memory", "DecoderState", "DecoderOutput", "DecoderStep", "StepOutput", "float32_steps"]


class Memory(NamedTuple):
    """What the encoder hands the decoder; fixed for the whole output sentence."""

    annotations: Tensor  # h_j, (B, Tk, Dk)
    mask: Tensor  # (B, Tk) bool, True = real token
    final: Tensor  # final encoder state (both directions), (B, Dk)
    projected_keys: Tensor | None  # step-independent part of the score, (B, Tk, Da)


class DecoderState(NamedTuple):
    """Recurrent decoder state; every field is batch-first so beams can be reordered."""

    hidden: Tensor  # s_t or h_t, (B, Dd)
    cell: Tensor | None  # LSTM cell state, (B, Dd); None for a GRU
    feed: Tensor | None  # h~_t for input feeding [Luong15] Sec. 3.3, (B, Dd)
    position: int = 0  # output tokens decoded so far: the target position t of the next step
    coverage: Tensor | None = None  # attention received so far per source position [Tu16], (B, Tk)
    prev_weights: Tensor | None = None  # alpha_{t-1} of location-aware attention [Chorowski15], (B, Tk)

    def select(self, index: Tensor) -> "DecoderState":
        """Keep batch rows `index` (B',) of every tensor field, in that order: the decoder that
        drives the beams (:mod:`attnkit.decoding`) reorders them or drops finished rows."""
        changes: dict[str, Any] = {
            name: value.index_select(0, index) for name, value in zip(self._fields, self) if isinstance(value, Tensor)
        }
        return self._replace(**changes)


class DecoderOutput(NamedTuple):
    """Teacher-forced decoder output."""

    output: Tensor  # pre-softmax output vectors, (B, Tq, Dd)
    weights: Tensor | None  # alignment weights (B, Tq, Tk); None without attention
    log_prob: Tensor | None = None  # (B, Tq) log-probabilities of sampled hard positions (REINFORCE)
    entropy: Tensor | None = None  # (B, Tq) entropies of the alignment distributions


class DecoderStep(NamedTuple):
    """One step of a decoder (``decoder.step``)."""

    output: Tensor  # the output vector before the output layer, (B, Dd)
    state: DecoderState  # the state after the step
    weights: Tensor | None  # alignment weights of the step (B, Tk); None without attention


class StepOutput(NamedTuple):
    """One decoding step of a model (:meth:`attnkit.models.Seq2Seq.step`); unpacks as
    ``log_probs, state, weights``."""

    log_probs: Tensor  # log-probabilities of the next token, (B, V)
    state: DecoderState  # the state after the step
    weights: Tensor | None  # alignment weights of the step (B, Tk); None without attention


@contextlib.contextmanager
def float32_steps(emb: Tensor, state: Any, memory: Any) -> Iterator[tuple[Tensor, Any, Any]]:
    """Run a step-by-step recurrence in float32 even under autocast.

    Yields `emb`, `state` and `memory` unchanged without autocast; under autocast, leaves it for
    the block and yields their floating-point tensors in float32. A decoder step multiplies
    matrices of one row per sentence, too small for bfloat16 units to pay off, while autocast
    adds a cast (and its backward) in front of every one of them: measured with
    ``benchmarks/train_throughput.py``, the Bahdanau model trains about 10 % faster this way
    (2,849-3,015 -> 3,280-3,307 target tokens/s, bf16, 2 threads). Work done once for all steps
    (the output layer, the loss) stays under autocast.
    """
    device = emb.device.type
    if not torch.is_autocast_enabled(device):
        yield emb, state, memory
        return
    with torch.autocast(device, enabled=False):
        yield _as_float32(emb), _as_float32(state), _as_float32(memory)


def _as_float32(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.float() if obj.is_floating_point() and obj.dtype != torch.float64 else obj
    if isinstance(obj, tuple):
        items = [_as_float32(x) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj
