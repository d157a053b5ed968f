"""Layer 2: ``nn.Module``s that own the parameters of attention and call the functional core."""

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
    "POSITIONAL", "PositionKind", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding",
    "RotaryEmbedding", "ALiBi", "NoPositionalEncoding", "build_positional",
]
