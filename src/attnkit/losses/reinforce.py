"""The score-function (REINFORCE) surrogate loss of sampled hard attention, and its baseline.

For a sentence with sampled attention positions s_1..s_T and reward r = log p(y | s, x), the
score-function estimator [Williams92] of the gradient of E_s[r] is (r - b) * grad sum_t log p(s_t),
unbiased for any baseline b that does not depend on the current sample. [Xu15] Sec. 4.1 uses a
moving average of past rewards as b and adds an entropy bonus. The surrogate returned here is

    -lambda_r * sum_i (r_i - b) * sum_t log p(s_it) - lambda_e * sum_i sum_t H[alpha_it],

summed over the batch, whose gradient with respect to the attention parameters is (minus) that
estimate.

Differences from the paper:
    The baseline used for a batch is the moving average of the rewards of *earlier* batches only
    (b_k = decay * b_{k-1} + (1 - decay) * mean reward of batch k, applied after batch k); the
    first batch has no history and uses b = 0. Updating b with the current batch's rewards before
    taking the advantage would make b depend on the sample and shrink the expected update by a
    factor 1 - (1 - decay) / B [Williams92].

References:
    [Williams92] R. J. Williams. Simple Statistical Gradient-Following Algorithms for
    Connectionist Reinforcement Learning. Machine Learning 8, 1992. DOI:10.1007/BF00992696.
    [Xu15] K. Xu et al. Show, Attend and Tell. ICML 2015. arXiv:1502.03044.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["RewardBaseline", "reinforce_surrogate"]


@dataclass
class RewardBaseline:
    """Moving average of past mean rewards [Xu15] Sec. 4.1.

    Attributes:
        decay: weight of the old value in each update, in [0, 1).
        value: the current baseline; None before the first update.
    """

    decay: float
    value: float | None = None

    def current(self) -> float:
        """The baseline for the batch about to be used (0 before any update)."""
        return 0.0 if self.value is None else self.value

    def update(self, mean_reward: float) -> None:
        """Fold one batch's mean reward in; call *after* the batch's advantage is taken."""
        self.value = mean_reward if self.value is None else (self.decay * self.value + (1 - self.decay) * mean_reward)


def reinforce_surrogate(
    reward: Tensor,
    log_prob: Tensor,
    entropy: Tensor,
    real: Tensor,
    baseline: float,
    *,
    reinforce_weight: float,
    entropy_weight: float,
) -> Tensor:
    """The REINFORCE surrogate of a batch (see the module docstring).

    Args:
        reward: r_i of each sentence, (B,), detached (e.g. log p(y | s, x), a sum over tokens).
        log_prob: log-probability of each sampled attention position, (B, Tq).
        entropy: entropy of each alignment distribution, (B, Tq), in nats.
        real: True at real (non-padding) target positions, (B, Tq).
        baseline: b, which must not depend on this batch's samples.
        reinforce_weight: lambda_r >= 0.
        entropy_weight: lambda_e >= 0.

    Returns:
        A scalar: -lambda_r * sum (r - b) log p(s) - lambda_e * sum H, padding excluded.

    References:
        [Williams92] Eq. 8 (score-function estimator); [Xu15] Sec. 4.1, Eq. 12.
    """
    advantage = (reward.detach() - baseline).unsqueeze(1)  # (B, 1)
    score_fn = -(advantage * log_prob * real).sum()
    return reinforce_weight * score_fn - entropy_weight * (entropy * real).sum()
