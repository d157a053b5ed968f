"""Word alignments scored: alignment error rate with sure and possible links.

:func:`alignment_error_rate` implements [Och03] Sec. 4 with sure links S and possible links P
(S ⊆ P): precision |A ∩ P| / |A|, recall |A ∩ S| / |S|, AER = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|),
each counted over the whole corpus. The Pharaoh format and symmetrisation live with the data
(:mod:`attnkit.data.pharaoh`) and are re-exported here.

References:
    [Och03] F. J. Och, H. Ney. A Systematic Comparison of Various Statistical Alignment Models.
    Computational Linguistics 29(1):19-51, 2003. https://aclanthology.org/J03-1002
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..data.pharaoh import (
    SYMMETRISATIONS,
    Links,
    format_pharaoh,
    grow_diag_final_and,
    parse_pharaoh,
    read_pharaoh,
    symmetrise,
    write_pharaoh,
)

__all__ = [
    "Links",
    "AlignmentScore",
    "parse_pharaoh",
    "format_pharaoh",
    "read_pharaoh",
    "write_pharaoh",
    "alignment_error_rate",
    "symmetrise",
    "grow_diag_final_and",
    "SYMMETRISATIONS",
]


@dataclass(frozen=True)
class AlignmentScore:
    """Corpus-level scores of predicted links against gold, each in [0, 1] (AER: lower is better)."""

    aer: float
    precision: float
    recall: float
    n_predicted: int  # |A|
    n_sure: int  # |S|
    n_possible: int  # |P|
    n_sentences: int

    def as_dict(self) -> dict:
        return {
            "aer": self.aer,
            "precision": self.precision,
            "recall": self.recall,
            "n_predicted": self.n_predicted,
            "n_sure": self.n_sure,
            "n_possible": self.n_possible,
            "n_sentences": self.n_sentences,
        }


def alignment_error_rate(
    predicted: Sequence[Iterable[tuple[int, int]]],
    sure: Sequence[Iterable[tuple[int, int]]],
    possible: Sequence[Iterable[tuple[int, int]]] | None = None,
) -> AlignmentScore:
    """AER, precision and recall of predicted links A against sure links S and possible links P [Och03] Sec. 4.

    Counts are summed over sentences before dividing. precision = |A ∩ P| / |A| (0 when A is
    empty), recall = |A ∩ S| / |S| (1 when S is empty), AER = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|)
    (0 when both are empty).

    Args:
        predicted: links A of each sentence.
        sure: gold sure links S of each sentence.
        possible: gold possible links P of each sentence; defaults to S. S is added to P
            wherever a file lists a sure link that is not also possible.

    Raises:
        ValueError: if the three lists differ in length.
    """
    possible = sure if possible is None else possible
    if not len(predicted) == len(sure) == len(possible):
        raise ValueError(
            f"need one alignment per sentence on each side; got {len(predicted)} predicted, "
            f"{len(sure)} sure and {len(possible)} possible; check that the files have the same lines"
        )
    n_a = n_s = n_p = a_s = a_p = 0
    for a, s, p in zip(predicted, sure, possible):
        a, s = set(a), set(s)
        p = set(p) | s
        n_a, n_s, n_p = n_a + len(a), n_s + len(s), n_p + len(p)
        a_s, a_p = a_s + len(a & s), a_p + len(a & p)
    aer = 1.0 - (a_s + a_p) / (n_a + n_s) if n_a + n_s else 0.0
    return AlignmentScore(aer, a_p / n_a if n_a else 0.0, a_s / n_s if n_s else 1.0, n_a, n_s, n_p, len(predicted))
