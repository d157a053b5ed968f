"""Word alignments as data: the Pharaoh format and the symmetrisation of two directions.

An alignment of one sentence pair is a set of links ``(i, j)``: source word i (0-based) is
aligned to target word j. A file holds one sentence a line in Pharaoh format, ``i-j`` pairs
separated by spaces (an empty line: no links); ``i?j`` marks a possible link in gold files that
distinguish them (:func:`read_pharaoh`). :func:`symmetrise` joins a source→target and a
target→source alignment by intersection, union or grow-diag-final-and [Koehn05]. Scoring links
(AER) is :mod:`attnkit.evaluation.alignment`.

References:
    [Koehn05] P. Koehn, A. Axelrod, A. Birch Mayne, C. Callison-Burch, M. Osborne, D. Talbot.
    Edinburgh System Description for the 2005 IWSLT Speech Translation Evaluation. IWSLT 2005.
    (grow-diag-final-and as in P. Koehn, Statistical Machine Translation, 2010, Fig. 4.9.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Literal, overload

from ..io import atomic_write_text

__all__ = [
    "Links",
    "parse_pharaoh",
    "format_pharaoh",
    "read_pharaoh",
    "write_pharaoh",
    "symmetrise",
    "grow_diag_final_and",
    "SYMMETRISATIONS",
]

Links = set[tuple[int, int]]  # (source word, target word), 0-based


def parse_pharaoh(line: str, *, where: str = "line") -> tuple[Links, Links]:
    """The sure and possible links of one Pharaoh line (``i-j`` sure, ``i?j`` possible only).

    Returns:
        (sure, possible) with sure ⊆ possible.

    Raises:
        ValueError: for a field that is not ``i-j`` or ``i?j`` with non-negative integers.
    """
    sure, possible = set(), set()
    for item in line.split():
        sep = "-" if "-" in item else "?"
        left, _, right = item.partition(sep)
        if not (left.isdigit() and right.isdigit()):
            raise ValueError(f"{where}: {item!r} is not a link; write source-target word indices as i-j (0-based)")
        link = (int(left), int(right))
        possible.add(link)
        if sep == "-":
            sure.add(link)
    return sure, possible


def format_pharaoh(links: Iterable[tuple[int, int]]) -> str:
    """One Pharaoh line: the links sorted by source then target index, ``i-j`` separated by spaces."""
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


@overload
def read_pharaoh(path: str | Path, *, with_possible: Literal[False] = False) -> list[Links]: ...


@overload
def read_pharaoh(path: str | Path, *, with_possible: Literal[True]) -> tuple[list[Links], list[Links]]: ...


def read_pharaoh(path: str | Path, *, with_possible: bool = False) -> list[Links] | tuple[list[Links], list[Links]]:
    """Read a Pharaoh file: one alignment a line.

    Args:
        path: the file.
        with_possible: also return the possible links of each line (``i?j`` plus the sure ones).

    Returns:
        The sure links of each line, or (sure, possible) lists with `with_possible`.

    Raises:
        OSError: if the file cannot be read.
        ValueError: for a malformed link (the message names the file and line).
    """
    path = Path(path)
    sure, possible = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        s, p = parse_pharaoh(line, where=f"{path}:{n}")
        sure.append(s)
        possible.append(p)
    return (sure, possible) if with_possible else sure


def write_pharaoh(path: str | Path, alignments: Iterable[Iterable[tuple[int, int]]]) -> None:
    """Write one line per alignment (sorted links), atomically."""
    atomic_write_text(path, "".join(format_pharaoh(links) + "\n" for links in alignments))


_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))  # (target, source) offsets


def grow_diag_final_and(
    forward: Iterable[tuple[int, int]], reverse: Iterable[tuple[int, int]], n_source: int, n_target: int
) -> Links:
    """grow-diag-final-and [Koehn05] of two directional alignments of one sentence pair.

    Start from the intersection; GROW-DIAG: repeat until nothing changes: for each target word
    e (outer loop) and source word f (inner loop) that are linked, add each neighbour (e', f')
    (horizontal, vertical, then diagonal, in the order of Koehn's book) that is in the union and
    whose e' or f' is not yet aligned; then FINAL-AND with the forward links, then with the
    reverse ones: add a link (f, e) of that direction when neither f nor e is aligned yet.

    Args:
        forward: source→target links (i, j).
        reverse: target→source links, also written (i, j) = (source word, target word).
        n_source: source words (loop bound).
        n_target: target words (loop bound).

    Differences from the paper: none intended; the loops run over target words e outside and
    source words f inside as in the book's pseudo-code, with "aligned" meaning aligned in the
    alignment being grown (points added earlier in a pass count at once).
    """
    forward, reverse = set(forward), set(reverse)
    union = forward | reverse
    links = forward & reverse
    src_aligned = {i for i, _ in links}
    tgt_aligned = {j for _, j in links}

    def add(i: int, j: int) -> None:
        links.add((i, j))
        src_aligned.add(i)
        tgt_aligned.add(j)

    added = True
    while added:
        added = False
        for e in range(n_target):
            for f in range(n_source):
                if (f, e) not in links:
                    continue
                for de, df in _NEIGHBOURS:
                    e2, f2 = e + de, f + df
                    if (e2 not in tgt_aligned or f2 not in src_aligned) and (f2, e2) in union and (f2, e2) not in links:
                        add(f2, e2)
                        added = True
    for direction in (forward, reverse):
        for e in range(n_target):
            for f in range(n_source):
                if e not in tgt_aligned and f not in src_aligned and (f, e) in direction:
                    add(f, e)
    return links


SYMMETRISATIONS = ("intersection", "union", "grow-diag-final-and")


def symmetrise(
    forward: Iterable[tuple[int, int]],
    reverse: Iterable[tuple[int, int]],
    method: str = "grow-diag-final-and",
    *,
    n_source: int | None = None,
    n_target: int | None = None,
) -> Links:
    """Join two directional alignments of one sentence pair, both given as (source, target) links.

    Args:
        forward: source→target links.
        reverse: target→source links, written (source word, target word).
        method: one of :data:`SYMMETRISATIONS`.
        n_source: source words (grow-diag-final-and; default: the largest index + 1).
        n_target: target words (likewise).

    Raises:
        ValueError: for an unknown method.
    """
    forward, reverse = set(forward), set(reverse)
    if method == "intersection":
        return forward & reverse
    if method == "union":
        return forward | reverse
    if method == "grow-diag-final-and":
        both = forward | reverse
        return grow_diag_final_and(
            forward,
            reverse,
            n_source if n_source is not None else max((i for i, _ in both), default=-1) + 1,
            n_target if n_target is not None else max((j for _, j in both), default=-1) + 1,
        )
    raise ValueError(f"unknown symmetrisation {method!r}; choose one of: {', '.join(SYMMETRISATIONS)}")
