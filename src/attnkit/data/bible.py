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
import random
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..io import atomic_path, atomic_write_text
from .sword import ModuleInfo, Verse, read_module
from .verse_align import AlignedPair, LengthModel, align_verses, span_ref

__all__ = [
    "AlignedPair",
    "LengthModel",
    "BibleError",
    "align_verses",
    "build_bible_corpus",
    "normalise_text",
    "span_ref",
    "SPLITS",
    "MIN_TRAIN",
    "DROP_REASONS",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
MIN_TRAIN = 1000  # fewest training pairs a corpus may be left with
# Bump when alignment, cleaning or the file layout change: it invalidates built corpora.
FORMAT_VERSION = 2


class BibleError(ValueError):
    """A corpus that cannot be built as asked (too few pairs, ...); the message says what to do."""


_CAMEL_GLUE = re.compile(r"(?<=[a-zß-öø-ÿ])(?=[A-ZÀ-ÖØ-Þ])")
# RV1909 ends Paul's letters with a subscription, inline after the last "Amén.":
# "... Amén. Escrita de Roma con Epafrodito." (the KJV's are titles, which sword.py drops).
_COLOPHON = re.compile(r"(?<=\b(?:Amén|Amen)\.)\s+[^.]*\b(?:escrita|enviada|written|sent)\b[^.]*\.$", re.I)
DROP_REASONS = (
    "book only in source",
    "book only in target",
    "empty side",
    "too long",
    "length ratio",
    "duplicate held-out pair",
)


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
        reason = (
            "empty side"
            if not n_src or not n_tgt
            else "too long"
            if max(n_src, n_tgt) > max_words
            else "length ratio"
            if max(n_src, n_tgt) > max_ratio * min(n_src, n_tgt)
            else None
        )
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
    splits = {"test": order[:n_test], "dev": order[n_test : n_test + n_dev], "train": order[n_test + n_dev :]}
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
    for name, lines in (
        (f"{split}.src", (p.src for p in pairs)),
        (f"{split}.tgt", (p.tgt for p in pairs)),
        (f"refs.{split}.txt", refs),
    ):
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
        if (
            all(old[key] == head[key] for key in head)
            and len(old["files"]) == 3 * len(SPLITS)
            and all(
                hashlib.sha256((out / name).read_bytes()).hexdigest() == digest for name, digest in old["files"].items()
            )
        ):
            return old
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _version() -> str:
    try:
        return importlib.metadata.version("attnkit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_bible_corpus(
    src: str,
    tgt: str,
    out: str | Path,
    *,
    seed: int = 1234,
    n_dev: int = 500,
    n_test: int = 1000,
    max_words: int = 80,
    max_ratio: float = 2.5,
    force: bool = False,
    min_train: int = MIN_TRAIN,
    read: Callable[[str], tuple[ModuleInfo, list[Verse]]] = read_module,
) -> dict:
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
        raise ValueError(
            f"need n_dev, n_test, min_train >= 0, max_words >= 1 and max_ratio >= 1; "
            f"got {n_dev}, {n_test}, {min_train}, {max_words} and {max_ratio}"
        )
    out = Path(out)
    log.info("reading %s and %s (a module's first read takes about a minute)", src, tgt)
    (src_info, src_verses), (tgt_info, tgt_verses) = read(src), read(tgt)
    params = {
        "src": src,
        "tgt": tgt,
        "seed": seed,
        "n_dev": n_dev,
        "n_test": n_test,
        "max_words": max_words,
        "max_ratio": max_ratio,
        "min_train": min_train,
        "format_version": FORMAT_VERSION,
    }
    modules = {
        side: {k: v for k, v in asdict(info).items() if k != "path"}
        for side, info in (("source", src_info), ("target", tgt_info))
    }
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
        raise BibleError(
            f"only {len(kept)} usable verse pairs between {src} and {tgt}, fewer than n_dev + "
            f"n_test + {min_train} training pairs = {n_dev + n_test + min_train}; lower "
            "--n-dev/--n-test or check the modules"
        )
    splits, moved = _split(kept, seed, n_dev, n_test, dropped)
    files = {name: digest for split in SPLITS for name, digest in _write_split(out, split, splits[split]).items()}
    chapters = sorted({(common.index(v.book), v.chapter) for p in realigned for v in p.src_verses + p.tgt_verses})
    manifest = {
        **head,
        "attnkit_version": _version(),
        "alignment": {
            "method": "Gale & Church (1993) on verse lengths in characters, book by book",
            "length_ratio": round(model.ratio, 4),
            "length_variance": round(model.variance, 4),
            "beads": dict(Counter(p.bead for p in pairs).most_common()),
            "realigned": len(realigned),
            "realigned_chapters": [f"{common[b]} {c}" for b, c in chapters],
        },
        "cleaning": cleaning,
        "counts": {"aligned": len(aligned), "kept": len(kept), **{s: len(splits[s]) for s in SPLITS}},
        "dropped": dropped,
        "held_out": {"source also in train (moved to train)": moved},
        "refs": "one reference a line; 'SRC<TAB>TGT' where the two sides' references differ",
        "files": files,
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return {**manifest, "up_to_date": False}
