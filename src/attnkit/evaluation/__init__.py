"""Layer 5: metrics and evaluation of a model on task examples."""

from .evaluate import evaluate_examples
from .metrics import alignment_accuracy, exact_match

__all__ = ["exact_match", "alignment_accuracy", "evaluate_examples"]
