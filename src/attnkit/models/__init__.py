"""Layer 3: assembled networks, and the model families that build them (each registers itself in
:data:`FAMILIES` when its module is imported; importing this package registers them all)."""

from .decoder_cache import TransformerState
from .family import FAMILIES, ModelFamily
from .han import HANOutput, HierarchicalAttentionNetwork
from .rnn import DECODERS, DecoderOutput, DecoderState, Memory, RNNEncoder, Seq2Seq, Seq2SeqOutput, StepOutput
from .rnn.stacked import StackedAttentionDecoder
from .specs import CaptionSpec, DocumentSpec, ImageSpec, ModelSpec, NodeSpec, Seq2SeqSpec, SpeechSeq2SeqSpec, SpeechSpec
from .speech import SpeechClassifier
from .transformer import AttentionMaps, TransformerMemory, TransformerSeq2Seq

# The families register themselves on import, in the order `attnkit list families` shows them.
# isort: off
from .rnn.family import RNNConfig, RNNFamily
from .transformer_family import TransformerConfig, TransformerFamily
from .han_family import HANConfig, HANFamily
from .cnn_family import CNNConfig, CNNFamily
from .vit_family import ViTConfig, ViTFamily
from .gnn_family import GATConfig, GATFamily, GCNConfig, GCNFamily, MLPConfig, MLPFamily
from .captioner_family import CaptionConfig, CaptionFamily
from .speech_family import SpeechEncoderConfig, SpeechEncoderFamily
from .bert_family import BertConfig, BertFamily
from .gpt2_family import GPT2Config, GPT2Family
from .whisper_family import WhisperConfig, WhisperFamily
from . import tagger_family  # noqa: F401  (registers tagger-transformer, -bilstm, -cnn, -bilstm-attention)
from .dictionary_tagger import DictionaryTaggerConfig, DictionaryTaggerFamily
from . import encoder_classifier  # noqa: F401  (registers encoder-classifier: documents on the tagging encoder)
from . import rnn_classifier  # noqa: F401  (registers rnn-classifier: documents on a BiLSTM/GRU, last or attention)
# isort: on

__all__ = [
    "Seq2Seq",
    "Seq2SeqOutput",
    "StepOutput",
    "RNNEncoder",
    "Memory",
    "DecoderState",
    "DecoderOutput",
    "DECODERS",
    "StackedAttentionDecoder",
    "TransformerSeq2Seq",
    "TransformerMemory",
    "TransformerState",
    "AttentionMaps",
    "HierarchicalAttentionNetwork",
    "HANOutput",
    "FAMILIES",
    "ModelFamily",
    "ModelSpec",
    "Seq2SeqSpec",
    "DocumentSpec",
    "SpeechClassifier",
    "SpeechSpec",
    "SpeechSeq2SeqSpec",
    "ImageSpec",
    "NodeSpec",
    "CaptionSpec",
    "RNNConfig",
    "RNNFamily",
    "TransformerConfig",
    "TransformerFamily",
    "HANConfig",
    "HANFamily",
    "CNNConfig",
    "CNNFamily",
    "ViTConfig",
    "ViTFamily",
    "GATConfig",
    "GATFamily",
    "GCNConfig",
    "GCNFamily",
    "MLPConfig",
    "MLPFamily",
    "CaptionConfig",
    "CaptionFamily",
    "SpeechEncoderConfig",
    "SpeechEncoderFamily",
    "BertConfig",
    "BertFamily",
    "GPT2Config",
    "GPT2Family",
    "WhisperConfig",
    "WhisperFamily",
    "DictionaryTaggerConfig",
    "DictionaryTaggerFamily",
]
