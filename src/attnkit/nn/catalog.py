"""The attention modules of layer 2 by name, for ``attnkit list`` (what each is and who proposed it)."""

from __future__ import annotations

from ..registry import Registry
from .local import LocalMonotonicAttention, LocalPredictiveAttention
from .multihead import MultiHeadAttention
from .pooling import AttentionPooling
from .seq2seq import AdditiveAttention, CoverageAttention, LuongAttention

__all__ = ["MODULES", "POOLING"]

MODULES: Registry[type] = Registry("attention module")
MODULES.register("AdditiveAttention", AdditiveAttention, "additive (Bahdanau) attention, v·tanh(W q + U k)",
                 "[Bahdanau15]")
MODULES.register("CoverageAttention", CoverageAttention, "additive attention that also sees the coverage",
                 "[Tu16]")
MODULES.register("LuongAttention", LuongAttention, "multiplicative attention: dot, general, concat scores",
                 "[Luong15]")
MODULES.register("LocalMonotonicAttention", LocalMonotonicAttention, "Luong local-m: a window around t",
                 "[Luong15]")
MODULES.register("LocalPredictiveAttention", LocalPredictiveAttention,
                 "Luong local-p: a predicted window centre with a Gaussian", "[Luong15]")
MODULES.register("MultiHeadAttention", MultiHeadAttention,
                 "scaled dot-product multi-head attention, GQA/MQA, KV cache, fused kernel",
                 "[Vaswani17], [Shazeer19], [Ainslie23]")

POOLING: Registry[type] = Registry("pooling")
POOLING.register("AttentionPooling", AttentionPooling,
                 "attention pooling with a learned context vector (HAN word and sentence levels)", "[Yang16]")
