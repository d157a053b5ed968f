"""Read a parallel corpus (two aligned text files, or one two-column TSV) and report bad lines.

Real corpora have broken lines: bytes that are not UTF-8, empty halves, runaway lines of
thousands of characters. Reading one of them should neither crash on the first bad byte nor
let it through unnoticed, so each line is decoded on its own; a pair with a bad half is
skipped, counted under its reason and remembered by line number for the report::

    corpus = read_parallel("train.es", "train.en")
    log.info(corpus.report())
    # read 29,812 pairs from train.es/train.en; skipped 3: 2 empty (lines 17, 40),
    # 1 invalid UTF-8 (line 88)

Structural problems (a missing file, text files with different line counts, nothing usable)
raise :class:`CorpusError` instead, because no amount of skipping makes such a corpus right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["ParallelCorpus", "CorpusError", "read_parallel", "read_tsv", "SKIP_REASONS"]

# Reason keys of `ParallelCorpus.skipped`, in the order they are checked, with their report labels.
SKIP_REASONS = {
    "columns": "not two tab-separated columns",
    "invalid_utf8": "invalid UTF-8",
    "empty": "empty",
    "too_long": "too long",
}
_N_EXAMPLES = 5


class CorpusError(ValueError):
    """A corpus that cannot be read as a whole; the message says what to fix."""


@dataclass
class ParallelCorpus:
    """The usable sentence pairs of a corpus and what was skipped.

    Attributes:
        src: source sentences, surrounding whitespace removed.
        tgt: target sentences, aligned with `src`.
        skipped: reason -> number of skipped pairs; reasons are the keys of `SKIP_REASONS`
            (``"columns"``, ``"invalid_utf8"``, ``"empty"``, ``"too_long"``), and only reasons
            that occurred appear.
        examples: reason -> the first (up to 5) 1-based line numbers skipped for it.
        n_lines: lines read (pairs kept plus pairs skipped).
        name: how the report names the corpus ("train.es/train.en" or "train.tsv").
        max_chars: the length limit the corpus was read with, for the report.
    """

    src: list[str]
    tgt: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[int]] = field(default_factory=dict)
    n_lines: int = 0
    name: str = ""
    max_chars: int = 0

    def __len__(self) -> int:
        return len(self.src)

    def report(self) -> str:
        """One line: pairs read, and per reason the count and first line numbers skipped."""
        n_skipped = sum(self.skipped.values())
        detail = f"skipped {n_skipped:,}: {self._skip_summary()}" if n_skipped else "skipped none"
        return f"read {len(self.src):,} pairs from {self.name}; {detail}"

    def _skip_summary(self) -> str:
        """ "2 empty (lines 17, 40), 1 invalid UTF-8 (line 88)": most frequent reason first."""
        rank = {reason: i for i, reason in enumerate(SKIP_REASONS)}
        parts = []
        for reason, count in sorted(self.skipped.items(), key=lambda rc: (-rc[1], rank.get(rc[0], len(rank)))):
            label = SKIP_REASONS.get(reason, reason)
            if reason == "too_long" and self.max_chars:
                label = f"over {self.max_chars:,} characters"
            lines = self.examples.get(reason, [])
            where = ", ".join(str(n) for n in lines) + (", ..." if count > len(lines) else "")
            parts.append(f"{count:,} {label} ({'line' if count == 1 else 'lines'} {where})")
        return ", ".join(parts)


def read_parallel(src_path: str | Path, tgt_path: str | Path, *, max_chars: int = 2000) -> ParallelCorpus:
    """Read two aligned plain-text files, one sentence per line, skipping and counting bad pairs.

    Each line is decoded strictly as UTF-8 on its own (a byte-order mark at the start of a file
    is ignored), loses its line ending (``\\n`` or ``\\r\\n``) and surrounding whitespace, and
    is checked: a pair is skipped if either side is invalid UTF-8, empty, or longer than
    `max_chars` characters, in that order of precedence (a pair counts under one reason). Long
    lines are skipped, never truncated.

    Args:
        src_path: source-language file.
        tgt_path: target-language file, line i translating line i of `src_path`.
        max_chars: longest sentence kept, in characters (after stripping whitespace).

    Returns:
        The kept pairs with the skip counts; ``corpus.report()`` summarises them in one line.

    Raises:
        CorpusError: if a file is missing, is a folder or cannot be read; if the two files have
            different numbers of lines; or if no pair is usable.
        ValueError: if `max_chars` is not positive.
    """
    _check_max_chars(max_chars)
    src_path, tgt_path = Path(src_path), Path(tgt_path)
    corpus = ParallelCorpus([], [], name=f"{src_path.name}/{tgt_path.name}", max_chars=max_chars)
    n_src = n_tgt = 0
    with _open(src_path) as src_file, _open(tgt_path) as tgt_file:
        for src_raw, tgt_raw in zip_longest(_lines(src_file), _lines(tgt_file)):
            n_src += src_raw is not None
            n_tgt += tgt_raw is not None
            if src_raw is not None and tgt_raw is not None:
                _add(corpus, n_src, src_raw, tgt_raw, max_chars)
    if n_src != n_tgt:
        raise CorpusError(
            f"{src_path} has {n_src:,} lines but {tgt_path} has {n_tgt:,}; a parallel corpus "
            "needs one sentence per line on both sides, so re-export or re-align the pair"
        )
    return _finish(corpus)


def read_tsv(path: str | Path, *, max_chars: int = 2000) -> ParallelCorpus:
    """Read a two-column TSV file (``source<TAB>target`` per line), skipping and counting bad lines.

    Like :func:`read_parallel`, with one more reason checked first: a line without exactly one
    tab (a missing tab, or extra columns) is skipped as ``"columns"``. There is no header line.

    Args:
        path: the TSV file.
        max_chars: longest sentence kept on either side, in characters.

    Returns:
        The kept pairs with the skip counts.

    Raises:
        CorpusError: if the file is missing, is a folder or cannot be read, or if no line is usable.
        ValueError: if `max_chars` is not positive.
    """
    _check_max_chars(max_chars)
    path = Path(path)
    corpus = ParallelCorpus([], [], name=path.name, max_chars=max_chars)
    with _open(path) as file:
        for number, raw in enumerate(_lines(file), start=1):
            columns = raw.split(b"\t")
            if len(columns) != 2:
                corpus.n_lines += 1
                _skip(corpus, "columns", number)
            else:
                _add(corpus, number, columns[0], columns[1], max_chars)
    return _finish(corpus)


def _check_max_chars(max_chars: int) -> None:
    if not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive number of characters, got {max_chars!r}")


def _open(path: Path) -> BinaryIO:
    if not path.exists():
        raise CorpusError(f"corpus file {path} does not exist; check the path")
    if path.is_dir():
        raise CorpusError(f"corpus path {path} is a folder; give the text file inside it")
    try:
        return path.open("rb")
    except OSError as err:
        raise CorpusError(f"cannot read corpus file {path}: {err.strerror or err}") from None


def _lines(file: BinaryIO) -> Iterator[bytes]:
    """Raw lines without ``\\n``/``\\r\\n``; a final line without a newline counts, a UTF-8 BOM goes."""
    for number, line in enumerate(file):
        if number == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        yield line


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


def _add(corpus: ParallelCorpus, number: int, src_raw: bytes, tgt_raw: bytes, max_chars: int) -> None:
    corpus.n_lines += 1
    src, tgt = _decode(src_raw), _decode(tgt_raw)
    if src is None or tgt is None:
        _skip(corpus, "invalid_utf8", number)
    elif not src or not tgt:
        _skip(corpus, "empty", number)
    elif len(src) > max_chars or len(tgt) > max_chars:
        _skip(corpus, "too_long", number)
    else:
        corpus.src.append(src)
        corpus.tgt.append(tgt)


def _skip(corpus: ParallelCorpus, reason: str, number: int) -> None:
    corpus.skipped[reason] = corpus.skipped.get(reason, 0) + 1
    lines = corpus.examples.setdefault(reason, [])
    if len(lines) < _N_EXAMPLES:
        lines.append(number)


def _finish(corpus: ParallelCorpus) -> ParallelCorpus:
    if not corpus.src:
        detail = "it is empty" if not corpus.n_lines else f"all {corpus.n_lines:,} skipped: {corpus._skip_summary()}"
        raise CorpusError(f"no usable sentence pairs in {corpus.name} ({detail}); check the file format and encoding")
    return corpus
