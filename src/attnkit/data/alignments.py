"""A Greek → English verse corpus with manual word alignments, from the ``bible-alignments`` package.

The PyPI package ``bible-alignments`` (Clear Bible / Biblica; data CC-BY-4.0) ships, inside its
wheel, three tables that this module reads directly (the package's own loader looks in the wrong
folder and pulls heavy dependencies, so it is installed ``--no-deps`` and never imported):

- ``data/sources/SBLGNT.tsv``: the Greek New Testament (SBLGNT), one word a row, id
  ``nBBCCCVVVWWW`` (book, chapter, verse, word), with lemma and morphology;
- ``data/eng/targets/BSB/nt_BSB.tsv``: the Berean Standard Bible, one token a row, with the
  source verse it translates (``source_verse``), ``skip_space_after`` and ``exclude`` (``y`` on
  punctuation, which is never aligned);
- ``data/eng/alignments/BSB/SBLGNT-BSB-manual.json``: manual alignment records (Scripture Burrito
  0.3), each a set of source word ids and a set of target token ids; a record of m source and n
  target tokens gives the m x n word links.

:func:`build_alignment_corpus` groups the tokens into verses by the tables' verse columns (a
target token belongs to its ``source_verse``), merges verses that a record links across (80
records, e.g. a Greek clause that the BSB moves into the previous verse) into one segment,
splits the segments (seeded) into gold test, gold dev and train, and writes plain parallel text
(one segment a line, words separated by one space), the gold links of dev and test in Pharaoh
format (``i-j``: 0-based index of the Greek word, of the English word) and a manifest::

    manifest = build_alignment_corpus("corpora/alignments.SBLGNT-BSB", seed=1234, n_dev=300, n_test=1000)
    manifest["counts"]  # {"segments": ..., "train": ..., "dev": ..., "test": ...}

Punctuation follows the target table's ``exclude`` mark (:data:`PUNCTUATION`): ``drop`` (default)
leaves the marked tokens out, so every English word can be aligned; ``split`` keeps each as a
word of its own (never linked in the gold); ``attach`` joins tokens as the table writes the text
(``skip_space_after``: "Christ," is one word).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_path, atomic_write_text
from .pharaoh import format_pharaoh

__all__ = [
    "AlignmentDataError",
    "AlignmentPackageMissing",
    "AlignedVerse",
    "PackageFiles",
    "PUNCTUATION",
    "INSTALL_COMMAND",
    "find_package",
    "read_aligned_verses",
    "build_alignment_corpus",
    "NT_BOOKS",
    "SPLITS",
]

log = logging.getLogger(__name__)

PACKAGE = "bible-alignments"
INSTALL_COMMAND = "pip install --no-deps bible-alignments"
SOURCE_TABLE = "data/sources/SBLGNT.tsv"
TARGET_TABLE = "data/eng/targets/BSB/nt_BSB.tsv"
ALIGNMENT_TABLE = "data/eng/alignments/BSB/SBLGNT-BSB-manual.json"
PUNCTUATION = ("drop", "split", "attach")
SPLITS = ("train", "dev", "test")
GOLD_SPLITS = ("dev", "test")
FORMAT_VERSION = 1
# OSIS abbreviations of the New Testament books, books 40-66 of the tables' ids.
NT_BOOKS = (
    "Matt",
    "Mark",
    "Luke",
    "John",
    "Acts",
    "Rom",
    "1Cor",
    "2Cor",
    "Gal",
    "Eph",
    "Phil",
    "Col",
    "1Thess",
    "2Thess",
    "1Tim",
    "2Tim",
    "Titus",
    "Phlm",
    "Heb",
    "Jas",
    "1Pet",
    "2Pet",
    "1John",
    "2John",
    "3John",
    "Jude",
    "Rev",
)


class AlignmentDataError(ValueError):
    """The package's tables are unreadable or the corpus cannot be built as asked; the message says why."""


class AlignmentPackageMissing(AlignmentDataError):
    """The ``bible-alignments`` package (or one of its data files) is not installed."""


@dataclass(frozen=True)
class PackageFiles:
    """Where the installed package's three tables are, and its version."""

    version: str
    source: Path
    target: Path
    alignment: Path


@dataclass
class AlignedVerse:
    """One segment (a verse, or verses merged by a record that links across them).

    ``links`` are (source word, target word) 0-based indices into ``src_words`` / ``tgt_words``.
    """

    ref: str
    src_words: list[str]
    tgt_words: list[str]
    links: list[tuple[int, int]] = field(default_factory=list)


def find_package() -> PackageFiles:
    """Locate the tables inside the installed ``bible-alignments`` wheel.

    Raises:
        AlignmentPackageMissing: if the package or one of its data files is not installed.
    """
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise AlignmentPackageMissing(
            f"the Python package {PACKAGE} is not installed; install it with `{INSTALL_COMMAND}`"
        ) from None
    paths = {}
    for key, rel in (("source", SOURCE_TABLE), ("target", TARGET_TABLE), ("alignment", ALIGNMENT_TABLE)):
        path = Path(str(dist.locate_file(rel)))
        if not path.is_file():
            raise AlignmentPackageMissing(
                f"{PACKAGE} {dist.version} has no {rel} (looked in {path}); reinstall "
                f"it with `{INSTALL_COMMAND} --force-reinstall`"
            )
        paths[key] = path
    return PackageFiles(dist.version, **paths)


def _read_tsv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    missing = [c for c in columns if rows and c not in rows[0]]
    if not rows or missing:
        raise AlignmentDataError(
            f"{path}: expected a table with columns {', '.join(columns)}; "
            f"{'it is empty' if not rows else 'missing ' + ', '.join(missing)}"
        )
    return rows


def _ref(verses: list[str]) -> str:
    """``Luke 7:18`` or ``Luke 7:18-19`` (``Acts 19:40-41``) for sorted verse keys BBCCCVVV."""
    first, last = verses[0], verses[-1]
    book = int(first[:2])
    name = NT_BOOKS[book - 40] if 40 <= book < 40 + len(NT_BOOKS) else f"book{book}"
    ref = f"{name} {int(first[2:5])}:{int(first[5:8])}"
    if last != first:
        ref += f"-{int(last[5:8])}" if last[:5] == first[:5] else f"-{int(last[2:5])}:{int(last[5:8])}"
    return ref


def _words(tokens: list[dict[str, str]], punctuation: str) -> tuple[list[str], dict[str, int]]:
    """The words of a segment's target tokens (in order) and each kept token's word index.

    A word is a run of tokens glued without a space: by ``skip_space_after`` for ``attach``;
    for ``drop`` only where the table glues two unexcluded tokens that are adjacent; never for
    ``split``."""
    kept = [t for t in tokens if punctuation != "drop" or t["exclude"] != "y"]
    position = {t["id"]: k for k, t in enumerate(tokens)}
    words: list[str] = []
    index: dict[str, int] = {}
    glue = False
    previous: list[dict[str, str] | None] = [None, *kept[:-1]]
    for prev, tok in zip(previous, kept):
        adjacent = prev is not None and position[tok["id"]] == position[prev["id"]] + 1
        if not (glue and prev is not None and (punctuation == "attach" or adjacent)):
            words.append("")
        words[-1] += tok["text"]
        index[tok["id"]] = len(words) - 1
        glue = punctuation != "split" and tok["skip_space_after"] == "y"
    return words, index


def read_aligned_verses(files: PackageFiles, *, punctuation: str = "drop") -> tuple[list[AlignedVerse], dict]:
    """Read the three tables into segments with their gold links, in canonical (book) order.

    Args:
        files: from :func:`find_package` (tests pass small tables of the same layout).
        punctuation: one of :data:`PUNCTUATION` (see the module docstring).

    Returns:
        The segments that have words on both sides and at least one link, and statistics
        (verses, merged segments, dropped segments by reason, links).

    Raises:
        ValueError: for an unknown `punctuation`.
        AlignmentDataError: for a table without the expected columns, or a record naming a
            token that is not in the tables.
    """
    if punctuation not in PUNCTUATION:
        raise ValueError(f"punctuation must be one of {', '.join(PUNCTUATION)}, got {punctuation!r}")
    src_rows = _read_tsv(files.source, ("id", "text"))
    tgt_rows = _read_tsv(files.target, ("id", "source_verse", "text", "skip_space_after", "exclude"))
    try:
        records = json.loads(files.alignment.read_text(encoding="utf-8"))["records"]
        records = [(list(r["source"]), list(r["target"])) for r in records]
    except (ValueError, KeyError, TypeError) as err:
        raise AlignmentDataError(f"{files.alignment}: not a Scripture Burrito alignment file ({err})") from None
    src_verse = {r["id"]: r["id"].lstrip("n")[:8] for r in src_rows}
    tgt_verse = {r["id"]: r["source_verse"] for r in tgt_rows}
    parent: dict[str, str] = {v: v for v in {*src_verse.values(), *tgt_verse.values()}}

    def root(v: str) -> str:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for src_ids, tgt_ids in records:
        try:
            verses = [src_verse[i] for i in src_ids] + [tgt_verse[i] for i in tgt_ids]
        except KeyError as err:
            raise AlignmentDataError(
                f"{files.alignment}: a record names token {err.args[0]}, which is in neither token table"
            ) from None
        for v in verses[1:]:
            parent[root(v)] = root(verses[0])
    groups: dict[str, list[str]] = {}
    for v in sorted(parent):
        groups.setdefault(root(v), []).append(v)
    src_by: dict[str, list[dict]] = {}
    tgt_by: dict[str, list[dict]] = {}
    for r in src_rows:
        src_by.setdefault(root(src_verse[r["id"]]), []).append(r)
    for r in tgt_rows:
        tgt_by.setdefault(root(tgt_verse[r["id"]]), []).append(r)
    rec_by: dict[str, list[tuple[list[str], list[str]]]] = {}
    for rec in records:
        if not rec[0] and not rec[1]:
            continue  # an empty record links nothing
        rec_by.setdefault(root(src_verse[rec[0][0]] if rec[0] else tgt_verse[rec[1][0]]), []).append(rec)
    dropped = {"no source words": 0, "no target words": 0, "no links": 0}
    segments = []
    for key in sorted(groups, key=lambda k: groups[k][0]):
        src_tokens = sorted(src_by.get(key, []), key=lambda r: r["id"])
        src_words = [r["text"] for r in src_tokens]
        src_index = {r["id"]: i for i, r in enumerate(src_tokens)}
        tgt_words, tgt_index = _words(sorted(tgt_by.get(key, []), key=lambda r: r["id"]), punctuation)
        links = sorted(
            {
                (src_index[s], tgt_index[t])
                for s_ids, t_ids in rec_by.get(key, [])
                for s in s_ids
                for t in t_ids
                if t in tgt_index
            }
        )
        reason = (
            "no source words"
            if not src_words
            else "no target words"
            if not tgt_words
            else "no links"
            if not links
            else None
        )
        if reason:
            dropped[reason] += 1
            continue
        segments.append(AlignedVerse(_ref(groups[key]), src_words, tgt_words, links))
    stats = {
        "verses": len(parent),
        "segments": len(segments),
        "merged segments": sum(len(v) > 1 for k, v in groups.items() if k in src_by and k in tgt_by),
        "records": len(records),
        "links": sum(len(s.links) for s in segments),
        "dropped": dropped,
    }
    return segments, stats


def _write(out: Path, name: str, lines: list[str]) -> str:
    data = "".join(f"{line}\n" for line in lines).encode("utf-8")
    with atomic_path(out / name) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _up_to_date(out: Path, head: dict) -> dict | None:
    try:
        old = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        if all(old[key] == head[key] for key in head) and all(
            hashlib.sha256((out / name).read_bytes()).hexdigest() == digest for name, digest in old["files"].items()
        ):
            return old
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def build_alignment_corpus(
    out: str | Path,
    *,
    seed: int = 1234,
    n_dev: int = 300,
    n_test: int = 1000,
    punctuation: str = "drop",
    force: bool = False,
    min_train: int = 100,
    files: PackageFiles | None = None,
) -> dict:
    """Build the Greek → English corpus with gold links into `out` (see the module docstring).

    Writes, each atomically: ``{train,dev,test}.src`` (Greek) and ``.tgt`` (English), one segment
    a line with words separated by one space; ``refs.{split}.txt`` (``Luke 7:18-19``);
    ``{dev,test}.gold.pharaoh`` (the gold links of each line; the training split's gold is not
    written, so that no model can be trained on it); ``manifest.json`` (parameters, package
    version, counts, sha256 of every file). If `out` already holds a corpus built from the same
    package version and parameters with intact files, nothing is written.

    Args:
        out: the corpus folder.
        seed: seed of the split's shuffle.
        n_dev: gold development segments (they choose layers, heads and thresholds).
        n_test: gold test segments.
        punctuation: one of :data:`PUNCTUATION`.
        force: rebuild even if `out` is up to date.
        min_train: fewest training segments the corpus may be left with.
        files: the package's tables (default: :func:`find_package`).

    Returns:
        The manifest as written, plus ``up_to_date`` (True if nothing was written).

    Raises:
        ValueError: for negative counts or an unknown `punctuation`.
        AlignmentPackageMissing: if the package is not installed (the message gives the install command).
        AlignmentDataError: for unreadable tables, or fewer than ``n_dev + n_test + min_train`` segments.
    """
    if min(n_dev, n_test, min_train) < 0:
        raise ValueError(f"need n_dev, n_test and min_train >= 0, got {n_dev}, {n_test} and {min_train}")
    if punctuation not in PUNCTUATION:
        raise ValueError(f"punctuation must be one of {', '.join(PUNCTUATION)}, got {punctuation!r}")
    files = files or find_package()
    out = Path(out)
    head = {
        "corpus": "bible-alignments SBLGNT-BSB-manual",
        "package": {"name": PACKAGE, "version": files.version},
        "parameters": {
            "seed": seed,
            "n_dev": n_dev,
            "n_test": n_test,
            "punctuation": punctuation,
            "min_train": min_train,
            "format_version": FORMAT_VERSION,
        },
    }
    if not force and (old := _up_to_date(out, head)) is not None:
        return {**old, "up_to_date": True}
    try:  # files of an earlier build (e.g. an aligner's links of other lines) must not survive it
        stale = set(json.loads((out / "manifest.json").read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        stale = set()
    log.info("reading %s %s tables", PACKAGE, files.version)
    segments, stats = read_aligned_verses(files, punctuation=punctuation)
    if len(segments) < n_dev + n_test + min_train:
        raise AlignmentDataError(
            f"only {len(segments)} aligned segments, fewer than n_dev + n_test + {min_train} "
            f"training segments = {n_dev + n_test + min_train}; lower --n-dev/--n-test"
        )
    order = list(range(len(segments)))
    random.Random(seed).shuffle(order)
    chosen = {"test": order[:n_test], "dev": order[n_test : n_test + n_dev], "train": order[n_test + n_dev :]}
    splits = {name: [segments[i] for i in sorted(idx)] for name, idx in chosen.items()}
    digests = {}
    for name in SPLITS:
        rows = splits[name]
        digests[f"{name}.src"] = _write(out, f"{name}.src", [" ".join(s.src_words) for s in rows])
        digests[f"{name}.tgt"] = _write(out, f"{name}.tgt", [" ".join(s.tgt_words) for s in rows])
        digests[f"refs.{name}.txt"] = _write(out, f"refs.{name}.txt", [s.ref for s in rows])
        if name in GOLD_SPLITS:
            digests[f"{name}.gold.pharaoh"] = _write(
                out, f"{name}.gold.pharaoh", [format_pharaoh(s.links) for s in rows]
            )
    counts = {"segments": len(segments), **{name: len(splits[name]) for name in SPLITS}}
    words = {
        name: {
            "source": sum(len(s.src_words) for s in splits[name]),
            "target": sum(len(s.tgt_words) for s in splits[name]),
            "links": sum(len(s.links) for s in splits[name]),
        }
        for name in SPLITS
    }
    manifest = {
        **head,
        "counts": counts,
        "words": words,
        "statistics": stats,
        "format": {
            "text": "one segment a line, words separated by one space",
            "links": "Pharaoh: 'i-j' per link, i the 0-based source (Greek) word, j the target "
            "(English) word; one line per segment of the split",
            "gold": "sure links only (S = P); train gold not written",
        },
        "license": "data CC-BY-4.0 (SBLGNT, alignments), BSB public domain",
        "files": digests,
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    for name in stale - set(digests):
        if "/" not in name:
            (out / name).unlink(missing_ok=True)
    return {**manifest, "up_to_date": False}
