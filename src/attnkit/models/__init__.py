"""Layer 3: assembled networks."""

from .decoder_cache import TransformerState
from .families import FAMILIES, DocumentSpec, ModelFamily, ModelSpec, Seq2SeqSpec
from .han import HANOutput, HierarchicalAttentionNetwork
from .speech import SpeechClassifier, SpeechSpec
from .rnn_seq2seq import DECODERS, DecoderOutput, DecoderState, Memory, RNNEncoder, Seq2Seq, Seq2SeqOutput
from .stacked import StackedAttentionDecoder
from .transformer import AttentionMaps, TransformerMemory, TransformerSeq2Seq

__all__ = [
    "Seq2Seq", "Seq2SeqOutput", "RNNEncoder", "Memory", "DecoderState", "DecoderOutput", "DECODERS",
    "StackedAttentionDecoder", "TransformerSeq2Seq", "TransformerMemory", "TransformerState", "AttentionMaps",
    "HierarchicalAttentionNetwork", "HANOutput", "FAMILIES", "ModelFamily", "ModelSpec", "Seq2SeqSpec",
    "DocumentSpec", "SpeechClassifier", "SpeechSpec",
]
