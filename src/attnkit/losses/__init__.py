"""Training losses that are not attention: the fused output layer + cross-entropy, and the
REINFORCE surrogate of sampled hard attention. Pure tensor functions (no parameters), used by
the tasks' losses; they sit beside the functional core, not in it."""

from .fused import linear_cross_entropy
from .reinforce import RewardBaseline, reinforce_surrogate

__all__ = ["linear_cross_entropy", "RewardBaseline", "reinforce_surrogate"]
