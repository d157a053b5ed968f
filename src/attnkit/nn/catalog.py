"""The attention modules of layer 2 by name, for ``attnkit list`` (what each is and who proposed it)."""

from __future__ import annotations

from ..registry import Registry
from .channel import EfficientChannelAttention, SqueezeExcitation
from .graph import GraphAttention, GraphAttentionV2
from .local import LocalMonotonicAttention, LocalPredictiveAttention
from .multihead import MultiHeadAttention
from .pixel import NonLocalAttention
from .pooling import AttentionPooling
from .seq2seq import AdditiveAttention, CoverageAttention, LuongAttention
from .spatial import CBAM, ChannelGate, SpatialGate, SpatialTransformer

__all__ = ["MODULES", "POOLING"]

MODULES: Registry[type] = Registry("attention module")
MODULES.register(
    "AdditiveAttention", AdditiveAttention, "additive (Bahdanau) attention, v·tanh(W q + U k)", "[Bahdanau15]"
)
MODULES.register("CoverageAttention", CoverageAttention, "additive attention that also sees the coverage", "[Tu16]")
MODULES.register("LuongAttention", LuongAttention, "multiplicative attention: dot, general, concat scores", "[Luong15]")
MODULES.register("LocalMonotonicAttention", LocalMonotonicAttention, "Luong local-m: a window around t", "[Luong15]")
MODULES.register(
    "LocalPredictiveAttention",
    LocalPredictiveAttention,
    "Luong local-p: a predicted window centre with a Gaussian",
    "[Luong15]",
)
MODULES.register(
    "MultiHeadAttention",
    MultiHeadAttention,
    "scaled dot-product multi-head attention, GQA/MQA, KV cache, fused kernel",
    "[Vaswani17], [Shazeer19], [Ainslie23]",
)
MODULES.register(
    "SqueezeExcitation",
    SqueezeExcitation,
    "channel gates from global average pooling through a bottleneck MLP",
    "[Hu18]",
)
MODULES.register(
    "EfficientChannelAttention",
    EfficientChannelAttention,
    "ECA: channel gates from a 1-D convolution across channels, adaptive kernel size",
    "[Wang20]",
)
MODULES.register(
    "ChannelGate", ChannelGate, "CBAM channel attention: shared MLP on average- and max-pooled channels", "[Woo18]"
)
MODULES.register(
    "SpatialGate", SpatialGate, "CBAM spatial attention: convolution over channel average and max", "[Woo18]"
)
MODULES.register("CBAM", CBAM, "convolutional block attention: channel gate, then spatial gate", "[Woo18]")
MODULES.register(
    "SpatialTransformer",
    SpatialTransformer,
    "spatial transformer: a localisation net regresses an affine warp of the input",
    "[Jaderberg15]",
)
MODULES.register(
    "NonLocalAttention",
    NonLocalAttention,
    "non-local block: embedded-Gaussian self-attention over the pixels, residual",
    "[Wang18]",
)

MODULES.register(
    "GraphAttention",
    GraphAttention,
    "GAT: each node attends over its neighbours, LeakyReLU(a^T [W h_i || W h_j])",
    "[Velickovic18]",
)
MODULES.register(
    "GraphAttentionV2",
    GraphAttentionV2,
    "GATv2: dynamic graph attention, a^T LeakyReLU(W_t h_i + W_s h_j)",
    "[Brody22]",
)

POOLING: Registry[type] = Registry("pooling")
POOLING.register(
    "AttentionPooling",
    AttentionPooling,
    "attention pooling with a learned context vector (HAN word and sentence levels)",
    "[Yang16]",
)
