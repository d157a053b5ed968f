"""The prediction of an encoder or a decoder-only language model: every layer's and head's
self-attention over the tokens of one sequence (kind :data:`~attnkit.predictions.SELF_ATTENTION`).

The views registry draws it as a head view (token-to-token lines, one head or all) and a
layers x heads grid; ``attnkit predict --json`` and the explorer send every layer and head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..capabilities import InputOption
from ..models.explain import EXPLANATIONS
from ..predictions import SELF_ATTENTION

__all__ = ["SelfAttentionPrediction", "EXPLAIN"]

#: ``explain=NAME``: an explanation beyond raw attention (:data:`attnkit.models.explain.EXPLANATIONS`)
#: computed for the prediction and carried in its ``explanations``; drawn instead of the raw weights
EXPLAIN = InputOption(
    "explain",
    "",
    ("", *EXPLANATIONS.names()),
    "an explanation beyond raw attention to compute and draw: rollout, flow, norm, alti, grad or attention "
    "(empty: the raw weights only)",
)


@dataclass
class SelfAttentionPrediction:
    """Self-attention of one token sequence.

    Attributes:
        output: the printed line (a language model's continuation; an encoder's tokens, or its
            predicted label where the checkpoint has a classification head).
        tokens: the T tokens as the tokenizer split them (special tokens included), in order:
            for a language model, the prompt's tokens then the generated ones.
        weights: alignment weights of every layer and head, (L, Nh, T, T) float32, rows (queries)
            summing to 1; a causal model's rows are 0 above the diagonal.
        causal: True for a decoder-only language model (a token attends to itself and earlier ones).
        prompt_length: how many of `tokens` were given (the rest were generated); T for an encoder.
        explanations: name -> (T, T) map of an explanation beyond raw attention (rollout, flow,
            norm, ALTI, gradient-weighted), rows the tokens explained, columns the tokens that
            contribute; empty unless asked for.
    """

    kind: ClassVar[str] = SELF_ATTENTION

    output: str
    tokens: list[str]
    weights: np.ndarray
    causal: bool = False
    prompt_length: int = 0
    explanations: dict[str, np.ndarray] = field(default_factory=dict)
