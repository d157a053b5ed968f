"""The doubly stochastic attention penalty of Show, Attend and Tell [Xu15] Sec. 4.2.1, Eq. 14.

Softmax attention makes sum_i alpha_ti = 1 at every step t. The penalty

    lambda * sum_i (1 - sum_t alpha_ti)^2

also pushes the attention each location receives over the whole caption, sum_t alpha_ti,
towards 1, so that the model looks at every part of the image over the course of a caption.

Differences from the paper:
    The sum over t runs over the caption's real decoder steps, the step that emits ``</s>``
    included; padded steps are left out. The penalty is summed over the batch like the
    cross-entropy it is added to (the trainer divides both by the batch's target tokens).

References:
    [Xu15] K. Xu et al. Show, Attend and Tell. ICML 2015. arXiv:1502.03044.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["doubly_stochastic_penalty"]


def doubly_stochastic_penalty(weights: Tensor, real: Tensor) -> Tensor:
    """sum_b sum_i (1 - sum_t alpha_bti)^2 over real steps t [Xu15] Eq. 14 (without lambda).

    Args:
        weights: alignment weights alpha, (B, Tq, L): over the L annotation locations, for
            every decoder step.
        real: True at real (non-padding) decoder steps, (B, Tq) bool.

    Returns:
        A scalar >= 0, differentiable w.r.t. `weights`.

    Raises:
        ValueError: if the shapes disagree.

    References:
        [Xu15] Sec. 4.2.1, Eq. 14.
    """
    if weights.dim() != 3 or real.shape != weights.shape[:2]:
        raise ValueError(
            f"need weights (B, Tq, L) and real (B, Tq), got {tuple(weights.shape)} and {tuple(real.shape)}"
        )
    received = (weights * real.unsqueeze(-1)).sum(dim=1)  # (B, L): sum_t alpha_ti
    return ((1.0 - received) ** 2).sum()
