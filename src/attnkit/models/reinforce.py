"""The REINFORCE loss of sampled hard attention, as a module the sampling model owns.

A model whose attention samples hard positions while training (:class:`~attnkit.models.Seq2Seq`
with ``normaliser="reinforce"``, :class:`~attnkit.models.captioner.ShowAttendTell` with
``attention="hard"``) holds a :class:`ReinforceLoss` as its ``reinforce`` sub-module and offers
``reinforce_terms(nll, output, real)``; a task adds those terms to its cross-entropy. The
moving-average reward baseline is a buffer of the module, so it is part of the model's state: it
is saved in ``model.safetensors`` / ``last.safetensors`` and restored with the weights on
resume. Its settings (``reinforce_weight``, ``entropy_weight``, ``baseline_decay``) are options
of the model's config section. The formulas are :mod:`attnkit.losses.reinforce`'s.

References:
    [Williams92] R. J. Williams. Simple Statistical Gradient-Following Algorithms for
    Connectionist Reinforcement Learning. Machine Learning 8, 1992. DOI:10.1007/BF00992696.
    [Xu15] K. Xu et al. Show, Attend and Tell. ICML 2015. arXiv:1502.03044.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..losses.reinforce import RewardBaseline, reinforce_surrogate

__all__ = ["ReinforceLoss", "SamplesAttention", "REINFORCE_OPTIONS", "check_reinforce_options"]

#: The config options of a model that trains sampled hard attention with REINFORCE.
REINFORCE_OPTIONS = ("reinforce_weight", "entropy_weight", "baseline_decay")


def check_reinforce_options(cfg: Any) -> None:
    """Raises ConfigError unless ``cfg.reinforce_weight`` and ``cfg.entropy_weight`` are >= 0 and
    ``cfg.baseline_decay`` lies in [0, 1)."""
    if cfg.reinforce_weight < 0 or cfg.entropy_weight < 0 or not 0.0 <= cfg.baseline_decay < 1.0:
        raise ConfigError(
            "model.reinforce_weight and model.entropy_weight must be >= 0 and "
            f"model.baseline_decay in [0, 1), got {cfg.reinforce_weight}, {cfg.entropy_weight} "
            f"and {cfg.baseline_decay}"
        )


class ReinforceLoss(nn.Module):
    """Score-function (REINFORCE) surrogate of sampled hard attention with its reward baseline
    [Xu15] Sec. 4.1: -lambda_r * sum_i (r_i - b) * sum_t log p(s_it) - lambda_e * sum_i sum_t
    H[alpha_it], with reward r_i = log p(y_i | s_i, x_i) and b the moving average of the mean
    rewards of *earlier* batches (:class:`attnkit.losses.reinforce.RewardBaseline`).

    Args:
        reinforce_weight: lambda_r >= 0.
        entropy_weight: lambda_e >= 0 (entropy bonus).
        baseline_decay: weight of the old baseline in each update, in [0, 1).

    The buffer ``baseline`` (float64 scalar) holds b; NaN until the first batch (b = 0 is then
    used). A checkpoint written before the baseline was part of the model's state loads with
    the buffer unchanged (the trainer then fills it from the old trainer state, if it has one).

    Raises:
        ValueError: for weights < 0 or a decay outside [0, 1).
    """

    baseline: Tensor

    def __init__(
        self, *, reinforce_weight: float = 1.0, entropy_weight: float = 0.01, baseline_decay: float = 0.9
    ) -> None:
        super().__init__()
        if reinforce_weight < 0 or entropy_weight < 0 or not 0.0 <= baseline_decay < 1.0:
            raise ValueError(
                f"reinforce_weight and entropy_weight must be >= 0 and baseline_decay in [0, 1), got "
                f"{reinforce_weight}, {entropy_weight} and {baseline_decay}"
            )
        self.reinforce_weight, self.entropy_weight = float(reinforce_weight), float(entropy_weight)
        self.baseline_decay = float(baseline_decay)
        self.register_buffer("baseline", torch.tensor(math.nan, dtype=torch.float64))

    @property
    def baseline_value(self) -> float | None:
        """b as a number; None before the first batch."""
        value = float(self.baseline)
        return None if math.isnan(value) else value

    def set_baseline(self, value: float | None) -> None:
        """Set b (None: no batch seen yet)."""
        with torch.no_grad():
            self.baseline.fill_(math.nan if value is None else float(value))

    def forward(self, nll: Tensor, log_prob: Tensor, entropy: Tensor, real: Tensor) -> Tensor:
        """The surrogate terms of one batch, summed over it; then folds the batch's mean reward
        into the baseline (after the advantage is taken: b never depends on this batch).

        Args:
            nll: per-token negative log-likelihood, (B, Tq) (detached here).
            log_prob: log-probability of each sampled attention position, (B, Tq).
            entropy: entropy of each alignment distribution, (B, Tq), in nats.
            real: True at real (non-padding) target positions, (B, Tq).

        Returns:
            A scalar; its gradient reaches the attention only through `log_prob` and `entropy`.
        """
        reward = -(nll.detach() * real).sum(dim=1)  # (B,) log p(y | s, x)
        baseline = RewardBaseline(self.baseline_decay, self.baseline_value)
        terms = reinforce_surrogate(
            reward,
            log_prob,
            entropy,
            real,
            baseline.current(),
            reinforce_weight=self.reinforce_weight,
            entropy_weight=self.entropy_weight,
        )
        baseline.update(float(reward.mean()))
        self.set_baseline(baseline.value)
        return terms

    def _load_from_state_dict(
        self,
        state_dict: Any,
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        if prefix + "baseline" not in state_dict:  # a checkpoint from before the baseline was model state
            state_dict = {**state_dict, prefix + "baseline": self.baseline.detach().clone()}
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return (
            f"reinforce_weight={self.reinforce_weight}, entropy_weight={self.entropy_weight}, "
            f"baseline_decay={self.baseline_decay}"
        )


@runtime_checkable
class SamplesAttention(Protocol):
    """A model that may sample hard attention while training: its outputs carry ``log_prob`` and
    ``entropy`` (None when nothing was sampled), and it computes its own REINFORCE terms."""

    def reinforce_terms(self, nll: Tensor, output: Any, real: Tensor) -> Tensor | None:
        """The REINFORCE terms for per-token `nll` (B, Tq) of `output` (the model's forward
        output) at `real` positions (B, Tq); None when `output` sampled nothing."""
