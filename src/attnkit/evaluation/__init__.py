"""Layer 4 (docs/architecture.md): metrics and evaluation of a model on task examples."""

from .bleu import LENGTH_BUCKETS, BucketScore, TranslationScores, bleu_by_length, corpus_scores, format_scores_table
from .captioning import attention_in_box, box_chance, caption_scores
from .classification import classification_metrics
from .evaluate import evaluate_examples
from .metrics import alignment_accuracy, alignment_monotonicity, exact_match

__all__ = [
    "exact_match",
    "alignment_accuracy",
    "alignment_monotonicity",
    "evaluate_examples",
    "classification_metrics",
    "corpus_scores",
    "TranslationScores",
    "bleu_by_length",
    "BucketScore",
    "LENGTH_BUCKETS",
    "format_scores_table",
    "caption_scores",
    "attention_in_box",
    "box_chance",
]
