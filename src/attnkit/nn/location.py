"""Location-aware attention: additive attention that also sees the previous step's alignment
through a convolution [Chorowski15] Sec. 2.2.

Content-based attention scores every frame by what it holds, so a frame that sounds like the one
it should read now (a repeated phone, a second "seven") can pull the alignment backwards or
forwards. The location-aware score adds U f_ij, where f_i = F * alpha_{i-1} are Nf filters of
width r run over the previous weights: the score learns where the last step looked, and moving
a little to the right of it becomes easy to express.

References:
    [Chorowski15] J. Chorowski, D. Bahdanau, D. Serdyuk, K. Cho, Y. Bengio. Attention-Based
    Models for Speech Recognition. NeurIPS 2015. arXiv:1506.07503.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional import Attended, fuse, score
from .seq2seq import AdditiveAttention, HardAttended, _attended, _check_3d

__all__ = ["LocationAwareAttention"]


class LocationAwareAttention(AdditiveAttention):
    """e_ij = w^T tanh(W s_{i-1} + V h_j + U f_ij + b), f_i = F * alpha_{i-1},
    alpha_i = normalise(e_i) [Chorowski15] Sec. 2.1-2.2 (Eqs. 5-9).

    Our ``query_proj`` is the paper's W, ``key_proj`` V (with the bias b), ``energy`` w,
    ``filters`` F (Nf x r) and ``loc_proj`` U (Da x Nf). The module holds no state: the caller
    passes the previous weights alpha_{i-1} in and keeps the new ones (the RNN decoder keeps
    them in its :class:`~attnkit.models.rnn.DecoderState`).

    Args:
        query_dim, key_dim, attn_dim, bias, normaliser: as :class:`AdditiveAttention`.
        n_filters: Nf, the number of convolution filters (the paper's k; 10 there).
        kernel_size: r, the width of each filter in keys (odd; the paper's 201 over 10 ms frames,
            our default 31 suits encoders that shorten the frame sequence).

    Raises:
        ValueError: for an even or non-positive `kernel_size`, `n_filters` < 1, or an unknown
            normaliser.

    Differences from the paper: the convolution is a cross-correlation (F flipped); the first
    step's alpha_0 is the caller's choice (:meth:`initial_weights` gives the uniform one over the
    real keys); sharpening / smoothing (Sec. 2.3) are the normaliser's business.
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        attn_dim: int,
        *,
        n_filters: int = 10,
        kernel_size: int = 31,
        bias: bool = True,
        normaliser: str = "softmax",
    ) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0 or n_filters < 1:
            raise ValueError(
                f"location-aware attention needs n_filters >= 1 and an odd kernel_size >= 1, got "
                f"{n_filters} and {kernel_size}"
            )
        super().__init__(query_dim, key_dim, attn_dim, bias=bias, normaliser=normaliser)
        self.filters = nn.Parameter(torch.empty(n_filters, kernel_size))  # F
        nn.init.uniform_(self.filters, -(kernel_size**-0.5), kernel_size**-0.5)
        self.loc_proj = nn.Linear(n_filters, attn_dim, bias=False)  # U

    @staticmethod
    def initial_weights(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """alpha_0: uniform over the real keys of each row; mask (B, Tk) bool -> (B, Tk)."""
        real = mask.to(dtype)
        return real / real.sum(-1, keepdim=True).clamp_min(1.0)

    @classmethod
    def _first_weights(cls, query: Tensor, keys: Tensor, mask: Tensor | None) -> Tensor:
        """alpha_0 for every query, (B, Tq, Tk): uniform over the keys `mask` allows each query."""
        shape = (query.shape[0], query.shape[1], keys.shape[1])
        if mask is None:
            mask = torch.ones(shape, dtype=torch.bool, device=keys.device)
        elif mask.dim() == 2:  # (B, Tk) padding mask
            mask = mask.unsqueeze(1)
        return cls.initial_weights(mask.expand(shape), keys.dtype)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
        *,
        prev_weights: Tensor | None = None,
    ) -> Attended | HardAttended:
        """As :meth:`AdditiveAttention.forward`, with the previous alignment.

        Args:
            query: decoder states s_{i-1}, (B, Tq, Dq).
            keys: annotations h_j (keys and values), (B, Tk, Dk).
            mask: boolean, ``True`` = may attend; (B, Tk) padding mask, or 3-D broadcasting to
                (B, Tq, Tk).
            projected_keys: :meth:`project_keys` of `keys`, (B, Tk, Da); computed when None.
            prev_weights: alpha_{i-1} for each query, (B, Tq, Tk). None is the alignment before
                the first step, alpha_0 of :meth:`initial_weights` (uniform over the keys `mask`
                allows), so this module can stand wherever an :class:`AdditiveAttention` is
                called; a decoder passes the previous step's weights at every later step.

        Returns:
            :class:`Attended` with context (B, Tq, Dk) and weights (B, Tq, Tk) (a
            :class:`HardAttended` with the "reinforce" normaliser, as the parent's).

        Raises:
            ValueError: for wrongly shaped inputs, mask or previous weights.
        """
        _check_3d("query", query, self.query_dim, "B, Tq, Dq")
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        if prev_weights is None:
            prev_weights = self._first_weights(query, keys, mask)
        scores = score.location_aware(
            self.query_proj(query),
            projected_keys,
            prev_weights=prev_weights,
            filters=self.filters,
            loc_proj=self.loc_proj.weight,
            energy=self.energy,
        )  # (B, Tq, Tk)
        weights, log_prob, entropy, probs = self.normaliser(scores, mask, self.training)
        return _attended(
            fuse.weighted_sum(weights, keys), weights, log_prob, entropy, self.normaliser.name == "reinforce", probs
        )
