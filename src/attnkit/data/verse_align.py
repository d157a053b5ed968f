"""Verse alignment of two Bibles: the length-based dynamic programme of [Gale93] over each book.

Pairing two Bibles by verse id is right almost everywhere and silently wrong in a few chapters
(see :mod:`attnkit.data.bible`). :func:`align_verses` aligns each book over its sequence of
verses, in a band around the id-pairing diagonal, with beads 1-1, 1-0, 0-1 and k-1 / 1-k merges
(k <= MAX_MERGE), and a bonus for 1-1 pairs of equal reference so that ordinary chapters come
out exactly as id pairing pairs them. The length model (ratio c and variance s² of character
lengths) is estimated from the data.

References:
    [Gale93] W. A. Gale, K. W. Church. A Program for Aligning Sentences in Bilingual Corpora.
    Computational Linguistics 19(1):75-102, 1993. https://aclanthology.org/J93-1004
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

from .sword import Verse

__all__ = [
    "AlignedPair",
    "LengthModel",
    "align_verses",
    "span_ref",
    "MAX_MERGE",
    "SAME_REF_BONUS",
    "SAME_REF_CAP",
    "DEFAULT_BAND",
]

# -log prior of the beads [Gale93] Table 5: 0.89 for 1-1; the 0.0099 of "1-0 or 0-1" and the
# 0.089 of "2-1 or 1-2" shared equally between the two directions. A k-1 or 1-k merge (k > 2,
# e.g. RV1909's Job 39:30, which holds nine WEB verses) costs MERGE_STEP more per extra verse.
_PRIOR_11, _PRIOR_DELETE, _PRIOR_MERGE = -math.log(0.89), -math.log(0.0099 / 2), -math.log(0.089 / 2)
MERGE_STEP = -math.log(0.1)
MAX_MERGE = 10  # most verses one bead may merge
SAME_REF_BONUS = 1.2  # nats taken off a 1-1 bead whose two verses have the same reference
SAME_REF_CAP = 7.0  # most nats a length mismatch costs such a bead (an addition, a postscript)
DEFAULT_BAND = 12  # verses either side of the id-pairing diagonal that the search explores
_MEDIAN_CHI2_1 = 0.454936  # median of the chi-squared distribution with 1 degree of freedom


def span_ref(verses: Sequence[Verse]) -> str:
    """Reference of consecutive verses: "" for none, ``Gen 1:1``, ``Job 39:30-31``, or
    ``Jonah 1:17-2:1`` across a chapter boundary."""
    if not verses:
        return ""
    first, last = verses[0], verses[-1]
    if len(verses) == 1:
        return first.ref
    end = f"{last.verse}" if last.chapter == first.chapter else f"{last.chapter}:{last.verse}"
    return f"{first.ref}-{end}"


@dataclass(frozen=True)
class AlignedPair:
    """One bead of the alignment: consecutive source verses and the target verses they translate.

    Attributes:
        src_verses: the source verses, in order (empty for a 0-1 bead).
        tgt_verses: the target verses, in order (empty for a 1-0 bead).
    """

    src_verses: tuple[Verse, ...]
    tgt_verses: tuple[Verse, ...]

    @property
    def src(self) -> str:
        """The source verses' texts joined with a space ("" when they are all empty)."""
        return " ".join(v.text for v in self.src_verses if v.text)

    @property
    def tgt(self) -> str:
        return " ".join(v.text for v in self.tgt_verses if v.text)

    @property
    def src_ref(self) -> str:
        return span_ref(self.src_verses)

    @property
    def tgt_ref(self) -> str:
        return span_ref(self.tgt_verses)

    @property
    def bead(self) -> str:
        """``"1-1"``, ``"2-1"``, ... (source verses - target verses)."""
        return f"{len(self.src_verses)}-{len(self.tgt_verses)}"

    @property
    def by_id(self) -> bool:
        """Whether pairing by verse id gives this pair too: one verse each, same reference."""
        return len(self.src_verses) == len(self.tgt_verses) == 1 and _key(self.src_verses[0]) == _key(
            self.tgt_verses[0]
        )

    @property
    def chapters(self) -> list[str]:
        """The chapters (``"Jonah 2"``) this pair's verses come from, source side first."""
        seen: dict[str, None] = {}
        for v in self.src_verses + self.tgt_verses:
            seen.setdefault(f"{v.book} {v.chapter}", None)
        return list(seen)


def _key(verse: Verse) -> tuple[str, int, int]:
    return verse.book, verse.chapter, verse.verse


@dataclass(frozen=True)
class LengthModel:
    """[Gale93]'s model of sentence lengths in characters: a target verse of a source verse
    of length l1 has length l2 with (c·l1 - l2) / sqrt(s²·(l1 + l2/c)/2) ~ N(0, 1).

    Attributes:
        ratio: c, target characters per source character (dimensionless).
        variance: s², in characters per character.
    """

    ratio: float = 1.0  # [Gale93] Sec. 4's English-French values, used only without data
    variance: float = 6.8

    @classmethod
    def estimate(cls, src: Iterable[Verse], tgt: Iterable[Verse]) -> LengthModel:
        """c and s² from the verses that id pairing pairs with text on both sides; s² from the
        median squared deviation, so a few misaligned chapters barely move it."""
        by_ref = {_key(v): len(v.text) for v in tgt if v.text}
        pairs = [(len(v.text), by_ref[_key(v)]) for v in src if v.text and _key(v) in by_ref]
        if len(pairs) < 2:
            return cls()
        c = sum(l2 for _, l2 in pairs) / sum(l1 for l1, _ in pairs)
        sq = [(c * l1 - l2) ** 2 / ((l1 + l2 / c) / 2) for l1, l2 in pairs]
        return cls(c, max(statistics.median(sq) / _MEDIAN_CHI2_1, 1e-3))

    def cost(self, l1: int, l2: int) -> float:
        """-log P(delta | match) for a bead of `l1` source and `l2` target characters, where
        P(delta | match) = 2 (1 - Phi(|delta|)) [Gale93] Sec. 3."""
        mean = (l1 + l2 / self.ratio) / 2
        if mean == 0:
            return 0.0
        x = abs(self.ratio * l1 - l2) / math.sqrt(self.variance * mean) / math.sqrt(2)
        if x < 20:
            return -math.log(math.erfc(x))
        return x * x + math.log(x * math.sqrt(math.pi))  # erfc underflows; its asymptote


def align_verses(
    src_verses: Sequence[Verse],
    tgt_verses: Sequence[Verse],
    *,
    model: LengthModel | None = None,
    band: int = DEFAULT_BAND,
) -> list[AlignedPair]:
    """Align two translations of one book verse by verse [Gale93] Sec. 3.

    Beads are 1-1, 1-0, 0-1, 2-1 and 1-2, and k-1 / 1-k merges of up to `MAX_MERGE` verses.
    A bead costs -log of its prior (Table 5) plus :meth:`LengthModel.cost` of its character
    lengths, except that a 1-1 bead of two verses with the same reference costs at most
    `SAME_REF_CAP` for its lengths and earns `SAME_REF_BONUS`, and one that pairs text with an
    empty slot of the same reference (a verse one translation omits) costs the priors of two
    deletions. Empty verses have length 0: deleting one costs only the 1-0 prior; they are
    never merged, nor paired with a verse of another reference.

    Args:
        src_verses: the source verses in order (one book, or any sequence of verses).
        tgt_verses: the target verses in order.
        model: the length model; default: estimated from these verses.
        band: how many verses off the id-pairing diagonal the search may go; widened
            automatically if no alignment fits in it.

    Returns:
        Every bead in order, including 1-0 and 0-1 beads (whose other side is empty); each
        input verse appears in exactly one bead.

    Differences from the paper:
        No 2-2 bead, but 1-k and k-1 merges beyond 2 (RV1909's Job 39:30 holds nine WEB
        verses); the same-reference cap and bonus and the band around the id diagonal are ours;
        the search runs over the verses of a book instead of the sentences of a paragraph.
    """
    src, tgt = list(src_verses), list(tgt_verses)
    model, band = model or LengthModel.estimate(src, tgt), max(band, 1)
    while True:
        beads = _search(src, tgt, model, band)
        if beads is not None:
            break
        band *= 2
    pairs, i, j = [], 0, 0
    for di, dj in beads:
        pairs.append(AlignedPair(tuple(src[i : i + di]), tuple(tgt[j : j + dj])))
        i, j = i + di, j + dj
    return pairs


def _diagonal(src: list[Verse], tgt: list[Verse]) -> list[int]:
    """For each source prefix length i, the target prefix length that id pairing reaches."""
    index = {_key(v): j for j, v in enumerate(tgt)}
    centre = [0]
    for v in src:
        j = index.get(_key(v))
        centre.append(min(len(tgt), max(centre[-1], centre[-1] + 1 if j is None else j + 1)))
    return centre


def _search(src: list[Verse], tgt: list[Verse], model: LengthModel, band: int):
    """The cheapest bead sequence within `band` of the diagonal, or None if none fits."""
    n, m = len(src), len(tgt)
    sums_a, sums_b = _prefix([len(v.text) for v in src]), _prefix([len(v.text) for v in tgt])
    empty_a, empty_b = _prefix([not v.text for v in src]), _prefix([not v.text for v in tgt])
    index = {_key(v): j for j, v in enumerate(tgt)}
    same = [index.get(_key(v), -1) for v in src]  # the target verse of the same reference
    centre = _diagonal(src, tgt)
    lo = [max(0, c - band) for c in centre]
    hi = [min(m, c + band) for c in centre]
    fits: dict[tuple[int, int], float] = {}

    def fit(l1: int, l2: int) -> float:
        if (l1, l2) not in fits:
            fits[l1, l2] = model.cost(l1, l2)
        return fits[l1, l2]

    def merges(i: int, j: int, src_side: bool):
        """(bead, cost) of the k-1 (`src_side`) or 1-k merges ending at cell (i, j)."""
        one = sums_b[j] - sums_b[j - 1] if src_side else sums_a[i] - sums_a[i - 1]
        if not one:
            return
        sums, empty, end = (sums_a, empty_a, i) if src_side else (sums_b, empty_b, j)
        limit = one / model.ratio if src_side else one * model.ratio
        for k in range(2, min(MAX_MERGE, end) + 1):
            if empty[end] - empty[end - k]:
                return  # an empty verse is deleted, never merged
            total = sums[end] - sums[end - k]
            bead = (k, 1) if src_side else (1, k)
            yield bead, _PRIOR_MERGE + (k - 2) * MERGE_STEP + fit(*((total, one) if src_side else (one, total)))
            if total > limit:
                return  # more verses would only fit worse

    inf = math.inf
    table: list[list[float]] = []
    back: list[list[tuple[int, int]]] = []
    for i in range(n + 1):
        width = hi[i] - lo[i] + 1
        row, row_back = [inf] * width, [(0, 0)] * width
        table.append(row)
        back.append(row_back)
        for j in range(lo[i], hi[i] + 1):
            if i == 0 and j == 0:
                row[0] = 0.0
                continue
            options = []
            if i and j:
                l1, l2 = sums_a[i] - sums_a[i - 1], sums_b[j] - sums_b[j - 1]
                if same[i - 1] == j - 1 and (l1 == 0) != (l2 == 0):
                    options.append(((1, 1), 2 * _PRIOR_DELETE))  # an omitted verse: two deletions
                elif same[i - 1] == j - 1:
                    options.append(((1, 1), _PRIOR_11 + min(fit(l1, l2), SAME_REF_CAP) - SAME_REF_BONUS))
                elif l1 and l2:  # text against an empty slot elsewhere is two deletions
                    options.append(((1, 1), _PRIOR_11 + fit(l1, l2)))
                options.extend(merges(i, j, True))
                options.extend(merges(i, j, False))
            if i:
                options.append(((1, 0), _PRIOR_DELETE + fit(sums_a[i] - sums_a[i - 1], 0)))
            if j:
                options.append(((0, 1), _PRIOR_DELETE + fit(0, sums_b[j] - sums_b[j - 1])))
            best, arg = inf, (0, 0)
            for (di, dj), cost in options:
                pi, pj = i - di, j - dj
                if lo[pi] <= pj <= hi[pi] and table[pi][pj - lo[pi]] + cost < best:
                    best, arg = table[pi][pj - lo[pi]] + cost, (di, dj)
            row[j - lo[i]], row_back[j - lo[i]] = best, arg
    if hi[n] < m or table[n][m - lo[n]] == inf:
        return None
    beads, i, j = [], n, m
    while i or j:
        di, dj = back[i][j - lo[i]]
        beads.append((di, dj))
        i, j = i - di, j - dj
    return beads[::-1]


def _prefix(values) -> list[int]:
    out = [0]
    for value in values:
        out.append(out[-1] + value)
    return out
