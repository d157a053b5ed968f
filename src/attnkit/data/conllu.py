"""Sentences of tagged words from CoNLL-U files (Universal Dependencies), read strictly.

CoNLL-U (https://universaldependencies.org/format.html): one word a line with ten tab-separated
fields ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC``, ``#`` comment lines, and a blank
line after each sentence. This reader keeps, per sentence, the words' FORM, UPOS, XPOS and
FEATS; multiword-token lines (ID ``1-2``) and empty nodes (ID ``1.1``) are skipped, since the
words they cover have lines of their own. Forms are kept as written, in Unicode NFC.

A small strict reader rather than the ``conllu`` package: ``conllu`` 6.0 accepts a line of four
fields and a FEATS column of ``Case`` without a word, and reports no line numbers; here every
malformed line is one :class:`~attnkit.errors.DataError` naming the file and the line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

__all__ = ["ConlluSentence", "read_conllu", "FIELDS"]

FIELDS = ("upos", "xpos", "feats")  # the columns a sentence keeps beside the forms
_FEATURE = re.compile(r"[A-Za-z0-9]+(\[[a-z0-9]+\])?=[A-Za-z0-9]+(,[A-Za-z0-9]+)*")


@dataclass(frozen=True)
class ConlluSentence:
    """One sentence: its words' forms and tags, one entry per word.

    Attributes:
        ref: ``FILE:LINE`` of its first word line.
        words: FORM of each word (NFC).
        upos: UPOS of each word.
        xpos: XPOS of each word (``_`` where the treebank has none).
        feats: FEATS of each word, as written (``Case=Nom|Number=Sing`` or ``_``).
    """

    ref: str
    words: tuple[str, ...]
    upos: tuple[str, ...]
    xpos: tuple[str, ...]
    feats: tuple[str, ...]


def read_conllu(path: str | Path) -> list[ConlluSentence]:
    """The sentences of a CoNLL-U file, in order.

    Raises:
        attnkit.errors.DataError: one line naming the file and line, for a line without ten
            tab-separated fields, an ID that is not a word number (or a range or empty node),
            word numbers that do not count 1, 2, 3..., an empty FORM or UPOS, a malformed FEATS,
            a file that is not UTF-8, or a file without sentences; a missing file too.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such CoNLL-U file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise DataError(f"{path}: unreadable ({err.strerror or err})") from None
    sentences: list[ConlluSentence] = []
    rows: list[tuple[str, str, str, str]] = []
    first = 0
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if rows:
                sentences.append(_sentence(path, first, rows))
                rows = []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataError(f"{path}:{line_no}: {len(fields)} tab-separated fields, a CoNLL-U word line has 10")
        ident, form, _, upos, xpos, feats = fields[:6]
        if re.fullmatch(r"\d+-\d+|\d+\.\d+", ident):  # a multiword token or an empty node
            continue
        if not ident.isdigit() or int(ident) != len(rows) + 1:
            want = len(rows) + 1
            raise DataError(f"{path}:{line_no}: ID {ident[:20]!r} where word {want} of the sentence was expected")
        if not form or not upos:
            raise DataError(f"{path}:{line_no}: empty {'FORM' if not form else 'UPOS'} (write _ for an unknown value)")
        if feats != "_" and not all(_FEATURE.fullmatch(f) for f in feats.split("|")):
            raise DataError(f"{path}:{line_no}: FEATS {feats[:40]!r} is not _ or Name=Value pairs separated by |")
        if not rows:
            first = line_no
        rows.append((unicodedata.normalize("NFC", form), upos, xpos, feats))
    if rows:
        sentences.append(_sentence(path, first, rows))
    if not sentences:
        raise DataError(f"{path}: no sentences (a CoNLL-U file has word lines of 10 tab-separated fields)")
    return sentences


def _sentence(path: Path, first: int, rows: list[tuple[str, str, str, str]]) -> ConlluSentence:
    words, upos, xpos, feats = (tuple(column) for column in zip(*rows))
    return ConlluSentence(f"{path}:{first}", words, upos, xpos, feats)
