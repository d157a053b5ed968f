"""Translation metrics: corpus BLEU and chrF through sacrebleu, overall and by source length.

Scores are computed on detokenised text with sacrebleu's metric objects at their defaults, so
they are comparable with published sacrebleu numbers and come with a signature that says how
they were computed. One reference per segment.

References:
    [Papineni02] K. Papineni, S. Roukos, T. Ward, W.-J. Zhu. BLEU: a Method for Automatic
        Evaluation of Machine Translation. ACL 2002. doi:10.3115/1073083.1073135.
    [Popovic15] M. Popović. chrF: character n-gram F-score for automatic MT evaluation.
        WMT 2015. doi:10.18653/v1/W15-3049.
    [Post18] M. Post. A Call for Clarity in Reporting BLEU Scores. WMT 2018. arXiv:1804.08771.
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
        to Align and Translate. ICLR 2015. arXiv:1409.0473.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sacrebleu.metrics import BLEU, CHRF

__all__ = [
    "LENGTH_BUCKETS",
    "BucketScore",
    "TranslationScores",
    "bleu_by_length",
    "corpus_scores",
    "format_scores_table",
]

# Source-length buckets in whitespace-split source words, inclusive; None = no upper bound.
LENGTH_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 10), (11, 20), (21, 30), (31, 40), (41, 60), (61, None))


@dataclass(frozen=True)
class TranslationScores:
    """Corpus BLEU and chrF of a system output, with sacrebleu's signatures and BLEU details.

    Attributes:
        bleu: corpus BLEU, 0-100.
        chrf: corpus chrF (character order 6, word order 0, beta 2), 0-100.
        bleu_signature: sacrebleu signature of the BLEU settings,
            e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0".
        chrf_signature: sacrebleu signature of the chrF settings.
        precisions: modified n-gram precisions p_1..p_4, each 0-100.
        brevity_penalty: BP in (0, 1].
        sys_len: hypothesis length c in 13a tokens, summed over the corpus.
        ref_len: reference length r in 13a tokens, summed over the corpus.
        n: number of segments.
    """

    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    precisions: tuple[float, ...]
    brevity_penalty: float
    sys_len: int
    ref_len: int
    n: int


@dataclass(frozen=True)
class BucketScore:
    """Corpus scores of the sentences whose source length falls in one bucket.

    Attributes:
        label: "lo-hi", or "lo+" for the open-ended bucket.
        lo: shortest source length in the bucket, in words (inclusive).
        hi: longest source length in the bucket, in words (inclusive); None = no upper bound.
        n: number of sentences in the bucket.
        bleu: corpus BLEU of those sentences, 0-100; None when the bucket is empty.
        chrf: corpus chrF of those sentences, 0-100; None when the bucket is empty.
    """

    label: str
    lo: int
    hi: int | None
    n: int
    bleu: float | None
    chrf: float | None


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"need equally many hypotheses and references (> 0), got {len(hypotheses)} and {len(references)}"
        )
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{name} must be detokenised strings; join token lists with ' ' first")


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> TranslationScores:
    """Corpus BLEU [Papineni02] and chrF [Popovic15] with sacrebleu's defaults [Post18].

    BLEU uses the 13a tokeniser, mixed case and exponential smoothing; chrF uses character
    n-grams up to 6, no word n-grams and beta 2. Both are corpus-level: n-gram statistics are
    summed over all segments before the score is formed (not an average of sentence scores).

    Args:
        hypotheses: detokenised system outputs, one string per segment.
        references: detokenised references, one per segment (a single reference each).

    Returns:
        The scores, signatures and BLEU details.

    Raises:
        ValueError: if the lists differ in length or are empty.
        TypeError: if an item is not a string (e.g. a token list).
    """
    _check_pairs(hypotheses, references)
    hyps, refs = list(hypotheses), [list(references)]  # sacrebleu wants reference streams
    bleu_metric, chrf_metric = BLEU(), CHRF()
    bleu = bleu_metric.corpus_score(hyps, refs)
    chrf = chrf_metric.corpus_score(hyps, refs)
    return TranslationScores(
        bleu=float(bleu.score),
        chrf=float(chrf.score),
        bleu_signature=str(bleu_metric.get_signature()),
        chrf_signature=str(chrf_metric.get_signature()),
        precisions=tuple(float(p) for p in bleu.precisions),
        brevity_penalty=float(bleu.bp),
        sys_len=int(bleu.sys_len),
        ref_len=int(bleu.ref_len),
        n=len(hyps),
    )


def _label(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


def bleu_by_length(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[str],
    buckets: Sequence[tuple[int, int | None]] = LENGTH_BUCKETS,
) -> list[BucketScore]:
    """Corpus BLEU and chrF per source-length bucket, as in [Bahdanau15] Fig. 2.

    A sentence's length is the number of whitespace-separated words of its source. Each
    bucket's BLEU is the corpus BLEU over the bucket's sentences (n-gram statistics pooled
    within the bucket), not a mean of sentence BLEU. A sentence goes to the first bucket that
    contains its length; sentences in no bucket (e.g. an empty source under the default
    buckets) are left out, so the buckets' `n` may sum to less than the corpus size.

    Args:
        sources: source sentences, one per segment (only their word counts are used).
        hypotheses: detokenised system outputs, one per segment.
        references: detokenised references, one per segment.
        buckets: inclusive (lo, hi) word-count ranges, hi None for no upper bound.

    Returns:
        One BucketScore per bucket, in the order given; empty buckets have bleu and chrf None.

    Raises:
        ValueError: if the three lists differ in length or are empty, or a bucket has hi < lo.
        TypeError: if a hypothesis or reference is not a string.
    """
    _check_pairs(hypotheses, references)
    if len(sources) != len(references):
        raise ValueError(f"need one source per reference, got {len(sources)} sources and {len(references)} references")
    for lo, hi in buckets:
        if hi is not None and hi < lo:
            raise ValueError(f"bucket ({lo}, {hi}) is empty by construction; give (lo, hi) with lo <= hi")
    members: list[list[int]] = [[] for _ in buckets]
    for i, source in enumerate(sources):
        length = len(source.split())
        for b, (lo, hi) in enumerate(buckets):
            if lo <= length and (hi is None or length <= hi):
                members[b].append(i)
                break
    result = []
    for (lo, hi), idx in zip(buckets, members):
        scores = corpus_scores([hypotheses[i] for i in idx], [references[i] for i in idx]) if idx else None
        result.append(
            BucketScore(
                label=_label(lo, hi),
                lo=lo,
                hi=hi,
                n=len(idx),
                bleu=scores.bleu if scores else None,
                chrf=scores.chrf if scores else None,
            )
        )
    return result


def format_scores_table(buckets: Sequence[BucketScore], *, digits: int = 2) -> str:
    """A Markdown table of bucket scores: source words, sentences, BLEU, chrF ("–" if empty).

    Args:
        buckets: the output of `bleu_by_length`.
        digits: decimal places for BLEU and chrF.

    Returns:
        The table as one string, lines joined by newlines, without a trailing newline.
    """

    def fmt(x: float | None) -> str:
        return "–" if x is None else f"{x:.{digits}f}"

    lines = ["| source words | sentences | BLEU | chrF |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {b.label} | {b.n} | {fmt(b.bleu)} | {fmt(b.chrf)} |" for b in buckets]
    return "\n".join(lines)
