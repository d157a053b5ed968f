"""Layer 2: ``nn.Module``s that own the parameters of attention and call the functional core."""

from .channel import ChannelAttended, EfficientChannelAttention, SqueezeExcitation, eca_kernel_size
from .dropout import Dropout, dropout
from .graph import GraphAttended, GraphAttention, GraphAttentionV2
from .local import LocalMonotonicAttention, LocalPredictiveAttention
from .location import LocationAwareAttention
from .multihead import KVCache, MHAOutput, MultiHeadAttention, Rotary
from .pixel import NonLocalAttention, PixelAttended
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
from .spatial import CBAM, CBAMOutput, ChannelGate, SpatialAttended, SpatialGate, SpatialTransformed, SpatialTransformer

__all__ = [
    "Dropout",
    "dropout",
    "AdditiveAttention",
    "CoverageAttention",
    "LocationAwareAttention",
    "HardAttended",
    "LuongAttention",
    "LuongAttended",
    "LUONG_SCORES",
    "MultiHeadAttention",
    "MHAOutput",
    "KVCache",
    "Rotary",
    "AttentionPooling",
    "LocalMonotonicAttention",
    "LocalPredictiveAttention",
    "POSITIONAL",
    "PositionKind",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEncoding",
    "RotaryEmbedding",
    "ALiBi",
    "NoPositionalEncoding",
    "build_positional",
    "SqueezeExcitation",
    "EfficientChannelAttention",
    "ChannelAttended",
    "eca_kernel_size",
    "ChannelGate",
    "SpatialGate",
    "SpatialAttended",
    "CBAM",
    "CBAMOutput",
    "SpatialTransformer",
    "SpatialTransformed",
    "NonLocalAttention",
    "PixelAttended",
    "GraphAttention",
    "GraphAttentionV2",
    "GraphAttended",
]
