"""Attention pooling: a learned context vector reads a sequence into one vector.

Unlike encoder-decoder attention, the query is not an input but a parameter: the "context
vector" u_w of [Yang16] Sec. 2.2, which asks "which positions are informative?". The score is
the additive form of [Bahdanau15] Eq. 6 with the query term removed.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional import Attended, masked_softmax, weighted_sum

__all__ = ["AttentionPooling"]


class AttentionPooling(nn.Module):
    """Pool (B, T, D) into (B, D) with a learned context vector [Yang16] Eqs. 5-7 (and 8-10).

    u_j = tanh(W h_j + b) (Eq. 5), alpha_j = softmax_j(u_j^T u_w) over the unmasked positions
    (Eq. 6), s = sum_j alpha_j h_j (Eq. 7). The same module is the sentence-level attention of
    Eqs. 8-10 when its inputs are sentence annotations.

    Our ``proj`` is the paper's W_w (W_s) with bias b_w (b_s), ``context`` its u_w (u_s); our
    `attn_dim` is the width of u_j, which the paper sets to 100 (Sec. 3.3).

    Args:
        input_dim: width D of the annotations h_j.
        attn_dim: width Da of the hidden representation u_j and of the context vector.

    Differences from the paper:
        padding positions are masked out of the softmax (the paper batches documents of similar
        length, Sec. 3.3, and does not describe masking); a row with no unmasked position pools
        to a zero vector with zero weights.
    """

    def __init__(self, input_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.proj = nn.Linear(input_dim, attn_dim)  # W_w, b_w
        self.context = nn.Parameter(torch.empty(attn_dim))  # u_w, "randomly initialized" (Sec. 2.2)
        nn.init.uniform_(self.context, -(attn_dim**-0.5), attn_dim**-0.5)

    def forward(self, values: Tensor, mask: Tensor | None = None) -> Attended:
        """Attention-weighted sum of `values` per batch row.

        Args:
            values: annotations h_j, (B, T, D).
            mask: boolean padding mask (B, T), ``True`` = real position (may attend); None = all.

        Returns:
            :class:`~attnkit.functional.Attended` with context s (B, D) and weights alpha
            (B, T) in [0, 1], summing to 1 over the unmasked positions of each row (all 0 and a
            zero context for a row with none).

        Raises:
            ValueError: if `values` is not (B, T, D) with D = `input_dim`, or `mask` is not (B, T).
            TypeError: if `mask` is not boolean.

        References:
            [Yang16] Eqs. 5-7 (word attention) and 8-10 (sentence attention).
        """
        if values.dim() != 3 or values.shape[-1] != self.input_dim:
            raise ValueError(f"values must be (B, T, D) with D={self.input_dim}, got {tuple(values.shape)}")
        if mask is not None and mask.shape != values.shape[:2]:
            raise ValueError(f"mask must be a (B, T) = {tuple(values.shape[:2])} padding mask, got {tuple(mask.shape)}")
        hidden = torch.tanh(self.proj(values))  # u_j, (B, T, Da)   Eq. 5
        scores = hidden @ self.context  # u_j^T u_w, (B, T)
        weights = masked_softmax(scores, mask)  # alpha_j, (B, T)   Eq. 6
        context = weighted_sum(weights.unsqueeze(-2), values).squeeze(-2)  # s, (B, D)   Eq. 7
        return Attended(context, weights)
