"""Layer 2: ``nn.Module``s that own the parameters of attention and call the functional core."""

from .multihead import KVCache, MHAOutput, MultiHeadAttention, Rotary
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
from .seq2seq import LUONG_SCORES, AdditiveAttention, LuongAttended, LuongAttention

__all__ = [
    "AdditiveAttention", "LuongAttention", "LuongAttended", "LUONG_SCORES",
    "MultiHeadAttention", "MHAOutput", "KVCache", "Rotary",
    "POSITIONAL", "PositionKind", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding",
    "RotaryEmbedding", "ALiBi", "NoPositionalEncoding", "build_positional",
]
