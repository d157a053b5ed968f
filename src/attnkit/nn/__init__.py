"""Layer 2: ``nn.Module``s that own the parameters of attention and call the functional core."""

from .seq2seq import LUONG_SCORES, AdditiveAttention, LuongAttended, LuongAttention

__all__ = ["AdditiveAttention", "LuongAttention", "LuongAttended", "LUONG_SCORES"]
