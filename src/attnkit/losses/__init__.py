"""Training losses that are not attention: the fused output layer + cross-entropy, the
REINFORCE surrogate of sampled hard attention and the doubly stochastic attention penalty. Pure
tensor functions (no parameters), used by the tasks' losses; they sit beside the functional
core, not in it."""

from .attention_penalty import doubly_stochastic_penalty
from .fused import linear_cross_entropy
from .reinforce import RewardBaseline, reinforce_surrogate

__all__ = ["linear_cross_entropy", "doubly_stochastic_penalty", "RewardBaseline", "reinforce_surrogate"]
