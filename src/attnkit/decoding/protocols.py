"""What the decoders call on a model: the step-by-step interface a family declares with
``ModelCapabilities(decodes=True)`` (checked when a run loads), and the per-layer maps of a
family declaring ``layer_maps=True``. The decoders take any ``nn.Module`` and view it through
these protocols; a model's memory and state are its own types (opaque here)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor

__all__ = ["StepDecoder", "FoldsBeams", "HasLayerMaps", "ReservesPositions"]


class StepDecoder(Protocol):
    """A model that decodes one token at a time (:class:`attnkit.models.Seq2Seq`,
    :class:`attnkit.models.TransformerSeq2Seq`, the speech models)."""

    def encode(self, src: Tensor, src_lengths: Tensor) -> Any:
        """The encoder memory of a padded batch of sources (B, Tk) with lengths (B,)."""

    def init_state(self, memory: Any) -> Any:
        """The decoder state before the first step."""

    def step(self, prev_tokens: Tensor, state: Any, memory: Any) -> tuple[Tensor, Any, Tensor | None]:
        """Log-probabilities (B, V), the next state and the step's attention ((B, [Nh,] Tk) or None)."""


class FoldsBeams(StepDecoder, Protocol):
    """A step decoder whose k beams of a sentence share one memory row (see
    :class:`attnkit.decoding.BeamStates`)."""

    def fold_beams(self, memory: Any, beams: int) -> Any:
        """The memory for `beams` rows per sentence, without copying it."""

    def step(
        self, prev_tokens: Tensor, state: Any, memory: Any, *, visible: Tensor | None = None
    ) -> tuple[Tensor, Any, Tensor | None]:
        """As :meth:`StepDecoder.step`; `visible` says which cached positions each row sees."""


class HasLayerMaps(Protocol):
    """A model with per-layer attention maps under teacher forcing (a Transformer)."""

    def attention_maps(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Any:
        """The maps (:class:`attnkit.models.AttentionMaps`: ``cross`` etc.) of one forward pass."""


@runtime_checkable
class ReservesPositions(Protocol):
    """A decoder state whose buffers can be sized up front (the Transformer's
    :class:`~attnkit.models.decoder_cache.TransformerState`): ``DecodeOptions(kv_cache="static")``
    reserves every step's position before the step loop; other states are left as they are."""

    def reserve(self, steps: int) -> Any:
        """The state with room for `steps` more positions."""
