"""The registry of RNN decoders (``model.attention``), each with the options it declares.

A decoder is registered as a :class:`DecoderKind`: how to build it, ``build(emb_dim, hidden_dim,
enc_dim, cell, **options)``, and the names of the :data:`DECODER_OPTIONS` it takes. The options
are declared, not read from the builder's signature; :class:`~attnkit.models.Seq2Seq` and the
``rnn`` family's config refuse an option the chosen decoder does not take, rather than dropping
it (``tests/models/test_decoder_options.py`` checks every declaration against the builder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from torch import Tensor

from ...registry import Registry
from .state import DecoderOutput, DecoderState, DecoderStep, Memory

__all__ = [
    "RNNDecoder",
    "DecoderKind",
    "DECODERS",
    "DECODER_OPTIONS",
    "INITS",
    "decoder_options",
    "check_decoder_options",
]

#: The options of :class:`~attnkit.models.Seq2Seq` that only some decoders take.
DECODER_OPTIONS = ("attn_dim", "input_feeding", "normaliser", "local_window", "dec_layers", "loc_filters", "loc_kernel")

#: Initialisations :class:`~attnkit.models.Seq2Seq` accepts: PyTorch's defaults, or the decoder's paper's.
INITS = ("torch", "paper")


class RNNDecoder(Protocol):
    """What :class:`~attnkit.models.Seq2Seq` asks of a decoder (an ``nn.Module``).

    Attributes:
        output_dim: width Dd of its output vectors (the output layer's input).
        uses_attention: False for the fixed-context decoder.
        init_recipe: its paper's initialisation, a key of :data:`~.paper_init.PAPER_INITS`.
    """

    output_dim: int
    uses_attention: bool
    init_recipe: str

    def project_keys(self, annotations: Tensor) -> Tensor | None:
        """The step-independent part of the scores of annotations (B, Tk, Dk), or None."""

    def init_state(self, memory: Memory) -> DecoderState:
        """The state before the first output token."""

    def step(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderStep:
        """One step from the embedding (B, E) of the previous token."""

    def __call__(self, emb: Tensor, state: DecoderState, memory: Memory) -> DecoderOutput:
        """Teacher-forced run over embeddings (B, Tq, E)."""


@dataclass(frozen=True)
class DecoderKind:
    """A registered decoder.

    Attributes:
        build: ``build(emb_dim, hidden_dim, enc_dim, cell, **options)`` -> the decoder module
            (``init_state``, ``project_keys``, ``step``, ``forward``, ``uses_attention``,
            ``init_recipe``, ``output_dim``).
        options: the :data:`DECODER_OPTIONS` it takes, as keyword arguments of `build`.
    """

    build: Callable[..., RNNDecoder]
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.options) - set(DECODER_OPTIONS))
        if unknown:
            raise ValueError(f"decoder option {unknown[0]!r} is not one of: {', '.join(DECODER_OPTIONS)}")


DECODERS: Registry[DecoderKind] = Registry("attention")


def decoder_options(attention: str) -> frozenset[str]:
    """The :data:`DECODER_OPTIONS` the decoder registered as `attention` takes.

    Raises:
        ValueError: for an unknown attention name (the message lists the valid ones).
    """
    return frozenset(DECODERS.get(attention).options)


def check_decoder_options(attention: str, options: dict[str, Any]) -> None:
    """Raise ValueError if `options` (the ones given, i.e. not None) holds one the decoder does
    not take; the message names the attentions that take it."""
    takes = decoder_options(attention)
    for name, value in options.items():
        if name not in takes:
            users = [n for n in DECODERS.names() if name in decoder_options(n)]
            own = ", ".join(o for o in DECODER_OPTIONS if o in takes) or "none"
            raise ValueError(
                f"attention={attention!r} does not take {name} (its options: {own}), so {name}={value!r} "
                f"would be ignored; remove it, or choose an attention that takes it: {', '.join(users)}"
            )
