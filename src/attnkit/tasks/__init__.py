"""Layer 4: task definitions (what the source and target are, how to score)."""

from ..registry import Registry
from .date_task import DateTask, InputError, locale_tag
from .translation import TranslationExample, TranslationTask, max_output_len

TASKS: Registry[type] = Registry("task")
TASKS.register("dates", DateTask, "human-readable dates in 11 locales -> ISO 8601 YYYY-MM-DD",
               "deeplearning.ai Sequence Models, week 3; CLDR formats via Babel")
TASKS.register("translation", TranslationTask, "any parallel corpus (e.g. `attnkit data bible`) with "
               "SentencePiece subwords, scored by BLEU/chrF", "[Bahdanau15]; SentencePiece [Kudo18b]")

__all__ = ["TASKS", "DateTask", "InputError", "locale_tag", "TranslationExample", "TranslationTask", "max_output_len"]
