"""What a sequence labelling model returns (:class:`~attnkit.models.specs.TaggingSpec`): one score
vector per word for each target, and the attention it used, if any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from torch import Tensor

__all__ = ["TaggerOutput", "TaggingBatch"]


@dataclass
class TaggerOutput:
    """The output of ``model(words, chars, mask)`` for a :class:`~attnkit.models.specs.TaggingSpec`.

    Attributes:
        logits: target name -> (B, T, n_labels) unnormalised scores, in the spec's target order;
            rows of padding positions are arbitrary (losses and metrics skip them).
        hidden: (B, T, d) the final word representations (for pooling or a new head).
        attention: one (B, H, T, T) map per self-attention layer, bottom first (alignment
            weights of each query word over the key words, padding keys exactly 0); empty for
            models without self-attention.
    """

    logits: dict[str, Tensor]
    hidden: Tensor
    attention: list[Tensor] = field(default_factory=list)


class TaggingBatch(NamedTuple):
    """A batch of a sequence labelling task (what its ``collate`` returns; a counting model's
    ``fit`` reads these).

    Attributes:
        words: (B, T) int64 word ids, 0 = padding.
        chars: (B, T, L) int64 character ids of each word, 0 = padding.
        mask: (B, T) bool, True on real words.
        labels: target name -> (B, T) int64 tag ids, -100 on padding (and on words without a
            label to learn).
    """

    words: Tensor
    chars: Tensor
    mask: Tensor
    labels: dict[str, Tensor]
