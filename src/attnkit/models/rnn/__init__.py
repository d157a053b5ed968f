"""RNN encoder-decoders: the encoder, the decoders (registered by name with the options each
takes), the model :class:`Seq2Seq` and its family ``rnn``.

Modules: :mod:`.state` (what flows between encoder, decoder and decoding), :mod:`.encoder`,
:mod:`.registry` (:data:`DECODERS`), :mod:`.decoders` (none, bahdanau, bahdanau-coverage),
:mod:`.luong` (luong-*), :mod:`.location` (location-aware), :mod:`.stacked` (luong-stacked),
:mod:`.paper_init`, :mod:`.model` (:class:`Seq2Seq`) and :mod:`.family` (``model.arch: rnn``).
"""

# The decoders register on import, in the order `attnkit list attention` shows them.
# isort: off
from .state import DecoderOutput, DecoderState, DecoderStep, Memory, StepOutput, float32_steps
from .encoder import RNNEncoder
from .registry import DECODER_OPTIONS, DECODERS, INITS, DecoderKind, decoder_options
from .decoders import BahdanauDecoder, CoverageBahdanauDecoder, FixedContextDecoder
from .luong import LocalLuongDecoder, LuongDecoder
from .location import LocationAwareDecoder
from .stacked import StackedAttentionDecoder
from .model import Seq2Seq, Seq2SeqOutput
# isort: on

__all__ = [
    "Memory",
    "DecoderState",
    "DecoderOutput",
    "DecoderStep",
    "StepOutput",
    "float32_steps",
    "RNNEncoder",
    "DECODERS",
    "DECODER_OPTIONS",
    "INITS",
    "DecoderKind",
    "decoder_options",
    "FixedContextDecoder",
    "BahdanauDecoder",
    "CoverageBahdanauDecoder",
    "LuongDecoder",
    "LocalLuongDecoder",
    "LocationAwareDecoder",
    "StackedAttentionDecoder",
    "Seq2Seq",
    "Seq2SeqOutput",
]
