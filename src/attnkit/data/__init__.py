"""Vocabularies and batching."""

from .batching import Batch, collate, pad
from .vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = ["Vocab", "Batch", "collate", "pad", "PAD", "UNK", "BOS", "EOS", "SPECIALS"]
