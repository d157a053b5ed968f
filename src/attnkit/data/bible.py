"""A Spanish→English parallel corpus from two SWORD Bibles, aligned verse by verse.

Pairing two Bibles by verse id is right almost everywhere and silently wrong in a few chapters:
the Reina-Valera 1909 module sits in KJV verse slots but keeps its own numbering in places, so
its Jonah 1:17 slot is empty and Jonah 2:1 holds the WEB's Jonah 1:17, Num 30:1 holds the WEB's
Num 29:40, its Job 39:30 holds nine WEB verses and its Job 40:1 the WEB's Job 40:6.
:func:`align_verses` therefore aligns each book with the length-based dynamic programme of
[Gale93] over the sequence of verses, in a band around the id-pairing diagonal, with a bonus for
1-1 pairs of equal reference so that ordinary chapters come out exactly as id pairing pairs
them. :func:`build_bible_corpus` cleans and filters the pairs, splits them into train/dev/test
and writes plain parallel text, the verse references and a manifest::

    manifest = build_bible_corpus("spaRV1909eb", "engWEB2015eb", "corpora/bible", seed=1234,
                                  n_dev=500, n_test=1000, max_words=80, max_ratio=2.5)
    manifest["counts"]  # {"aligned": ..., "kept": ..., "train": ..., "dev": ..., "test": ...}

References:
    [Gale93] W. A. Gale, K. W. Church. A Program for Aligning Sentences in Bilingual Corpora.
    Computational Linguistics 19(1):75-102, 1993. https://aclanthology.org/J93-1004
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import math
import random
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..io import atomic_path, atomic_write_text
from .sword import ModuleInfo, Verse, read_module

__all__ = ["AlignedPair", "LengthModel", "BibleError", "align_verses", "build_bible_corpus",
           "normalise_text", "span_ref", "SPLITS", "MIN_TRAIN", "DROP_REASONS"]

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
MIN_TRAIN = 1000  # fewest training pairs a corpus may be left with
# Bump when alignment, cleaning or the file layout change: it invalidates built corpora.
FORMAT_VERSION = 2
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


class BibleError(ValueError):
    """A corpus that cannot be built as asked (too few pairs, ...); the message says what to do."""


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
        return (len(self.src_verses) == len(self.tgt_verses) == 1
                and _key(self.src_verses[0]) == _key(self.tgt_verses[0]))

    @property
    def chapters(self) -> list[str]:
        """The chapters (``"Jonah 2"``) this pair's verses come from, source side first."""
        seen = {}
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


def align_verses(src_verses: Sequence[Verse], tgt_verses: Sequence[Verse], *,
                 model: LengthModel | None = None, band: int = DEFAULT_BAND) -> list[AlignedPair]:
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
        pairs.append(AlignedPair(tuple(src[i:i + di]), tuple(tgt[j:j + dj])))
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


_CAMEL_GLUE = re.compile(r"(?<=[a-zß-öø-ÿ])(?=[A-ZÀ-ÖØ-Þ])")
# RV1909 ends Paul's letters with a subscription, inline after the last "Amén.":
# "... Amén. Escrita de Roma con Epafrodito." (the KJV's are titles, which sword.py drops).
_COLOPHON = re.compile(r"(?<=\b(?:Amén|Amen)\.)\s+[^.]*\b(?:escrita|enviada|written|sent)\b[^.]*\.$", re.I)
DROP_REASONS = ("book only in source", "book only in target", "empty side", "too long", "length ratio",
                "duplicate held-out pair")


def normalise_text(text: str) -> str:
    """One line of plain text: pilcrows dropped, whitespace collapsed, and two words glued by
    the module's markup split where a lower-case letter meets a capital ("esRamat" -> "es
    Ramat", "díjoleDios" -> "díjole Dios"; neither Bible writes a capital inside a word)."""
    return _CAMEL_GLUE.sub(" ", " ".join(text.replace("¶", " ").split()))


def _clean_books(verses: list[Verse], stats: dict) -> dict[str, list[Verse]]:
    """The verses by book, normalised, with the subscription of a book's last verse removed."""
    books: dict[str, list[Verse]] = {}
    for v in verses:
        text = normalise_text(v.text)
        stats["glued words split"] += text.count(" ") - " ".join(v.text.split()).count(" ")
        books.setdefault(v.book, []).append(Verse(v.book, v.chapter, v.verse, text))
    for book in books.values():
        last = max((i for i, v in enumerate(book) if v.text), default=None)
        if last is not None and _COLOPHON.search(book[last].text):
            v = book[last]
            book[last] = Verse(v.book, v.chapter, v.verse, _COLOPHON.sub("", v.text))
            stats["subscriptions removed"] += 1
    return books


def _filter(pairs: list[AlignedPair], max_words: int, max_ratio: float, dropped: dict):
    """The pairs with text on both sides, at most `max_words` words a side and a word-length
    ratio of at most `max_ratio`; counts the others in `dropped` by reason."""
    kept = []
    for pair in pairs:
        n_src, n_tgt = len(pair.src.split()), len(pair.tgt.split())
        if not n_src and not n_tgt:
            continue  # empty slots on both sides: nothing to lose
        reason = ("empty side" if not n_src or not n_tgt else
                  "too long" if max(n_src, n_tgt) > max_words else
                  "length ratio" if max(n_src, n_tgt) > max_ratio * min(n_src, n_tgt) else None)
        if reason:
            dropped[reason] += 1
        else:
            kept.append(pair)
    return kept


def _split(pairs: list[AlignedPair], seed: int, n_dev: int, n_test: int, dropped: dict):
    """Seeded train/dev/test split, each in canonical order; a held-out pair whose source also
    occurs in train moves to train, and a repeated held-out pair is dropped."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    splits = {"test": order[:n_test], "dev": order[n_test:n_test + n_dev], "train": order[n_test + n_dev:]}
    train_src = {pairs[i].src for i in splits["train"]}
    seen, moved = set(), 0
    for name in ("test", "dev"):
        held = []
        for i in splits[name]:
            if pairs[i].src in train_src:
                splits["train"].append(i)
                moved += 1
            elif (pairs[i].src, pairs[i].tgt) in seen:
                dropped["duplicate held-out pair"] += 1
            else:
                seen.add((pairs[i].src, pairs[i].tgt))
                held.append(i)
        splits[name] = held
    return {name: [pairs[i] for i in sorted(splits[name])] for name in SPLITS}, moved


def _write_split(out: Path, split: str, pairs: list[AlignedPair]) -> dict[str, str]:
    """Write one split's three files atomically; their sha256 by file name."""
    refs = (p.src_ref if p.src_ref == p.tgt_ref else f"{p.src_ref}\t{p.tgt_ref}" for p in pairs)
    digests = {}
    for name, lines in ((f"{split}.src", (p.src for p in pairs)), (f"{split}.tgt", (p.tgt for p in pairs)),
                        (f"refs.{split}.txt", refs)):
        data = "".join(f"{line}\n" for line in lines).encode("utf-8")
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def _up_to_date(out: Path, head: dict) -> dict | None:
    """The manifest in `out` if it was built from the same modules and parameters and every
    file it lists is there with its checksum; else None."""
    try:
        old = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        if all(old[key] == head[key] for key in head) and len(old["files"]) == 3 * len(SPLITS) and all(
                hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
                for name, digest in old["files"].items()):
            return old
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _version() -> str:
    try:
        return importlib.metadata.version("attnkit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_bible_corpus(src: str, tgt: str, out: str | Path, *, seed: int = 1234, n_dev: int = 500,
                       n_test: int = 1000, max_words: int = 80, max_ratio: float = 2.5,
                       force: bool = False, min_train: int = MIN_TRAIN,
                       read: Callable[[str], tuple[ModuleInfo, list[Verse]]] = read_module) -> dict:
    """Align two SWORD Bibles, filter and split the pairs, and write the corpus to `out`.

    Writes ``{train,dev,test}.{src,tgt}`` (one sentence a line, line i of .src translated by
    line i of .tgt), ``refs.{train,dev,test}.txt`` (each line's verse reference: ``Gen 1:1``,
    ``Job 39:30-31`` for merged verses, or source and target reference separated by a tab when
    they differ) and ``manifest.json``, each atomically. If `out` already holds a corpus built
    from the same module versions and parameters whose files are intact, nothing is written.

    Args:
        src: source module name, e.g. ``spaRV1909eb``.
        tgt: target module name, e.g. ``engWEB2015eb``.
        out: the corpus folder.
        seed: seed of the train/dev/test shuffle.
        n_dev: pairs to hold out for development (fewer if some are dropped as repeats).
        n_test: pairs to hold out for testing (likewise).
        max_words: longest side allowed, in whitespace-separated words.
        max_ratio: largest ratio allowed between the two sides' word counts (>= 1).
        force: rebuild even if `out` is up to date.
        min_train: fewest training pairs the corpus must keep.
        read: returns a module's info and verses (default :func:`read_module`; tests pass fakes).

    Returns:
        The manifest as written to ``manifest.json``, plus ``up_to_date``: True if the corpus
        was already there and nothing was written.

    Raises:
        ValueError: for a negative `n_dev`, `n_test` or `min_train`, `max_words` < 1 or
            `max_ratio` < 1.
        BibleError: if fewer than ``n_dev + n_test + min_train`` pairs survive the filters.
        SwordError: if a module is missing or unreadable (from :func:`read_module`).
    """
    if min(n_dev, n_test, min_train) < 0 or max_words < 1 or not max_ratio >= 1:
        raise ValueError(f"need n_dev, n_test, min_train >= 0, max_words >= 1 and max_ratio >= 1; "
                         f"got {n_dev}, {n_test}, {min_train}, {max_words} and {max_ratio}")
    out = Path(out)
    log.info("reading %s and %s (a module's first read takes about a minute)", src, tgt)
    (src_info, src_verses), (tgt_info, tgt_verses) = read(src), read(tgt)
    params = {"src": src, "tgt": tgt, "seed": seed, "n_dev": n_dev, "n_test": n_test, "max_words": max_words,
              "max_ratio": max_ratio, "min_train": min_train, "format_version": FORMAT_VERSION}
    modules = {side: {k: v for k, v in asdict(info).items() if k != "path"}
               for side, info in (("source", src_info), ("target", tgt_info))}
    head = {"corpus": "bible", **modules, "parameters": params}
    if not force and (old := _up_to_date(out, head)) is not None:
        return {**old, "up_to_date": True}
    cleaning = {"glued words split": 0, "subscriptions removed": 0}
    src_books, tgt_books = _clean_books(src_verses, cleaning), _clean_books(tgt_verses, cleaning)
    dropped = dict.fromkeys(DROP_REASONS, 0)
    for side, mine, other in (("source", src_books, tgt_books), ("target", tgt_books, src_books)):
        dropped[f"book only in {side}"] = sum(bool(v.text) for b in mine if b not in other for v in mine[b])
    common = [book for book in src_books if book in tgt_books]
    model = LengthModel.estimate([v for b in common for v in src_books[b]], [v for b in common for v in tgt_books[b]])
    log.info("aligning %d books (c = %.3f, s² = %.2f)", len(common), model.ratio, model.variance)
    pairs = [p for book in common for p in align_verses(src_books[book], tgt_books[book], model=model)]
    aligned = [p for p in pairs if p.src and p.tgt]
    realigned = [p for p in aligned if not p.by_id]
    kept = _filter(pairs, max_words, max_ratio, dropped)
    if len(kept) < n_dev + n_test + min_train:
        raise BibleError(f"only {len(kept)} usable verse pairs between {src} and {tgt}, fewer than n_dev + "
                         f"n_test + {min_train} training pairs = {n_dev + n_test + min_train}; lower "
                         "--n-dev/--n-test or check the modules")
    splits, moved = _split(kept, seed, n_dev, n_test, dropped)
    files = {name: digest for split in SPLITS for name, digest in _write_split(out, split, splits[split]).items()}
    chapters = sorted({(common.index(v.book), v.chapter) for p in realigned for v in p.src_verses + p.tgt_verses})
    manifest = {
        **head, "attnkit_version": _version(),
        "alignment": {"method": "Gale & Church (1993) on verse lengths in characters, book by book",
                      "length_ratio": round(model.ratio, 4), "length_variance": round(model.variance, 4),
                      "beads": dict(Counter(p.bead for p in pairs).most_common()), "realigned": len(realigned),
                      "realigned_chapters": [f"{common[b]} {c}" for b, c in chapters]},
        "cleaning": cleaning,
        "counts": {"aligned": len(aligned), "kept": len(kept), **{s: len(splits[s]) for s in SPLITS}},
        "dropped": dropped,
        "held_out": {"source also in train (moved to train)": moved},
        "refs": "one reference a line; 'SRC<TAB>TGT' where the two sides' references differ",
        "files": files,
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return {**manifest, "up_to_date": False}
