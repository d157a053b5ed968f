"""Layer 2: ``nn.Module``s that own the parameters of attention and call the functional core."""

from .local import LocalMonotonicAttention, LocalPredictiveAttention
from .multihead import KVCache, MHAOutput, MultiHeadAttention, Rotary
from .pooling import AttentionPooling
from .positional import (
    POSITIONAL,
    ALiBi,
    LearnedPositionalEncoding,
    NoPositionalEncoding,
    PositionKind,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    build_positional,
)
from .seq2seq import LUONG_SCORES, AdditiveAttention, CoverageAttention, HardAttended, LuongAttended, LuongAttention

__all__ = [
    "AdditiveAttention", "CoverageAttention", "HardAttended", "LuongAttention", "LuongAttended", "LUONG_SCORES",
    "MultiHeadAttention", "MHAOutput", "KVCache", "Rotary",
    "AttentionPooling", "LocalMonotonicAttention", "LocalPredictiveAttention",
    "POSITIONAL", "PositionKind", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding",
    "RotaryEmbedding", "ALiBi", "NoPositionalEncoding", "build_positional",
]
